"""Verifies authgate access tokens with PyJWT, an implementation independent of authgate's.

Usage: verify_jwt.py JWKS_URL ISSUER AUDIENCE TOKEN...
Prints one line per token: `ok <sub>` or `fail <reason>`. Keys are found through the JWKS the way
a backend service would find them (PyJWKClient, matched by `kid`).
"""
import sys

import jwt

jwks_url, issuer, audience, *tokens = sys.argv[1:]
client = jwt.PyJWKClient(jwks_url, cache_keys=False)
for token in tokens:
    try:
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            key.key,
            algorithms=["EdDSA", "ES256", "RS256"],
            audience=audience,
            issuer=issuer,
            options={"require": ["exp", "nbf", "iat", "iss", "aud", "sub"]},
        )
        print("ok", claims["sub"])
    except Exception as e:  # noqa: BLE001 - any failure is a refusal
        print("fail", type(e).__name__, str(e).replace("\n", " "))
