//! Identity providers over HTTP: OpenID Connect discovery and JWKS, the authorization URL, the
//! code exchange with PKCE, ID token verification, and reading the user from a plain OAuth 2.0
//! provider's API (GitHub's, or any with a userinfo endpoint).
//!
//! Token verification is `openidconnect`'s (signature against the issuer's JWKS, `iss`, `aud`,
//! `azp`, `exp`, `iat`, `nonce`; unsigned tokens and algorithms the issuer does not announce are
//! refused), plus `at_hash` when the token carries one and, for Microsoft's multi-tenant issuers,
//! `iss` against the token's own tenant. Its HTTP goes through the shared reqwest client, with a
//! timeout per request and a cap on answer sizes.
//!
//! Discovery is read at the first sign-in and kept for an hour (a stale copy is kept while the
//! provider is unreachable); the JWKS is read again whenever a token names a key it does not
//! hold, which is how a provider's key rotation reaches us. Tokens come from the provider's own
//! token endpoint over the back channel, and each needs a fresh single-use `state`, so an
//! attacker cannot make us fetch keys at will.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreClientAuthMethod,
    CoreErrorResponseType, CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm, CoreProviderMetadata,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, AuthType, AuthUrl, AuthorizationCode, ClientId,
    ClientSecret, CsrfToken, EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IdTokenClaims, IdTokenFields, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse as _, TokenUrl,
};
use serde::{Deserialize, Serialize};

use crate::settings::providers::ClientSecret as SecretSetting;
use crate::settings::{Endpoints, Preset, ProviderConfig};

/// The largest answer read from a provider (discovery, keys, tokens, user).
const MAX_BODY: usize = 256 * 1024;
/// How long discovery is trusted before it is read again.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// Claims beyond the standard ones that authgate reads: Microsoft's tenant.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ExtraClaims {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    tid: Option<String>,
}
impl AdditionalClaims for ExtraClaims {}

type IdFields = IdTokenFields<
    ExtraClaims,
    EmptyExtraTokenFields,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;
type OidcTokens = StandardTokenResponse<IdFields, CoreTokenType>;
type OidcClient = openidconnect::Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    OidcTokens,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;
type Claims = IdTokenClaims<ExtraClaims, CoreGenderClaim>;

/// Why a provider step failed, as the front end is told (`?error=<code>`); the detail is for
/// the log only.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Unreachable, slow, or answering 5xx or nonsense.
    #[error("provider unavailable: {0}")]
    Unavailable(String),
    /// The code was refused at the token endpoint (spent, expired, or not ours).
    #[error("code exchange refused: {0}")]
    ExchangeRefused(String),
    /// The ID token failed verification.
    #[error("ID token refused: {0}")]
    InvalidIdToken(String),
    /// The provider's answer about the user lacks what authgate needs.
    #[error("user information refused: {0}")]
    InvalidUser(String),
}

impl ProviderError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => "provider_unavailable",
            Self::ExchangeRefused(_) => "code_exchange_failed",
            Self::InvalidIdToken(_) => "invalid_id_token",
            Self::InvalidUser(_) => "invalid_provider_user",
        }
    }
}

/// What a provider says about the person who signed in.
#[derive(Debug, Clone)]
pub struct ProviderUser {
    /// The provider's stable id for the person.
    pub subject: String,
    pub email: Option<String>,
    /// The provider says it verified `email`.
    pub email_verified: bool,
    pub name: Option<String>,
    /// The ID token's `amr` says several factors were checked (`mfa`).
    pub mfa: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct HttpError(String);

type HttpFuture =
    Pin<Box<dyn Future<Output = Result<openidconnect::HttpResponse, HttpError>> + Send>>;

/// The shared reqwest client as `openidconnect`'s HTTP client.
fn transport(
    client: &reqwest::Client,
    timeout: Duration,
) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture {
    let client = client.clone();
    move |request| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .timeout(timeout)
                .send()
                .await
                .map_err(|e| HttpError(e.without_url().to_string()))?;
            let mut answer = openidconnect::http::Response::builder().status(resp.status());
            for (name, value) in resp.headers() {
                answer = answer.header(name, value);
            }
            let body = read_capped(resp).await?;
            answer.body(body).map_err(|e| HttpError(e.to_string()))
        })
    }
}

async fn read_capped(mut resp: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| HttpError(e.without_url().to_string()))?
    {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError(format!("answer larger than {MAX_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

struct Discovered {
    metadata: CoreProviderMetadata,
    at: Instant,
}

/// One configured provider, with what was discovered about it.
pub struct Provider {
    pub config: ProviderConfig,
    discovered: tokio::sync::RwLock<Option<Arc<Discovered>>>,
}

/// Every configured provider, built once from the settings.
pub struct Providers {
    providers: Vec<Provider>,
    http: reqwest::Client,
    timeout: Duration,
}

/// What the browser is sent to the provider with.
pub struct Authorization {
    pub url: String,
}

/// The values a flow keeps between its redirect and its callback.
pub struct FlowSecrets {
    pub state: String,
    pub nonce: String,
    pub pkce_verifier: String,
}

impl FlowSecrets {
    pub fn new() -> Self {
        let (_, verifier) = PkceCodeChallenge::new_random_sha256();
        Self {
            state: crate::crypto::b64url(&crate::crypto::random_bytes::<32>()),
            nonce: crate::crypto::b64url(&crate::crypto::random_bytes::<32>()),
            pkce_verifier: verifier.secret().clone(),
        }
    }

    fn challenge(&self) -> PkceCodeChallenge {
        PkceCodeChallenge::from_code_verifier_sha256(&PkceCodeVerifier::new(
            self.pkce_verifier.clone(),
        ))
    }
}

impl Default for FlowSecrets {
    fn default() -> Self {
        Self::new()
    }
}

impl Providers {
    pub fn new(configs: &[ProviderConfig], http: reqwest::Client, timeout: Duration) -> Self {
        Self {
            providers: configs
                .iter()
                .map(|config| Provider {
                    config: config.clone(),
                    discovered: tokio::sync::RwLock::new(None),
                })
                .collect(),
            http,
            timeout,
        }
    }

    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.config.id == id)
    }

    pub fn is_empty(&self) -> bool {
        self.providers.is_empty()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.providers.iter().map(|p| p.config.id.as_str())
    }

    fn send(&self) -> impl Fn(openidconnect::HttpRequest) -> HttpFuture {
        transport(&self.http, self.timeout)
    }

    /// The provider's metadata and keys: cached, read again after [`DISCOVERY_TTL`] or when
    /// `refresh_keys` (a token named an unknown key).
    async fn discovered(
        &self,
        provider: &Provider,
        refresh_keys: bool,
    ) -> Result<Arc<Discovered>, ProviderError> {
        let Endpoints::Discovery { issuer } = &provider.config.endpoints else {
            return Err(ProviderError::Unavailable(
                "not an OpenID provider".to_owned(),
            ));
        };
        let cached = provider.discovered.read().await.clone();
        if let Some(d) = &cached {
            if !refresh_keys && d.at.elapsed() < DISCOVERY_TTL {
                return Ok(d.clone());
            }
        }
        let mut slot = provider.discovered.write().await;
        // Another request may have refreshed it while this one waited.
        if let (Some(now), Some(before)) = (slot.as_ref(), cached.as_ref()) {
            if !Arc::ptr_eq(now, before) {
                return Ok(now.clone());
            }
        }
        match self.discover(provider, issuer).await {
            Ok(metadata) => {
                let d = Arc::new(Discovered {
                    metadata,
                    at: Instant::now(),
                });
                *slot = Some(d.clone());
                Ok(d)
            }
            Err(e) => match slot.as_ref() {
                Some(stale) => {
                    tracing::warn!(provider = %provider.config.id, error = %e, "provider discovery failed; keeping the copy read before");
                    Ok(stale.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn discover(
        &self,
        provider: &Provider,
        issuer: &str,
    ) -> Result<CoreProviderMetadata, ProviderError> {
        let unavailable = |e: String| ProviderError::Unavailable(e);
        let url = format!("{issuer}/.well-known/openid-configuration");
        let resp = self
            .http
            .get(&url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| unavailable(e.without_url().to_string()))?;
        if !resp.status().is_success() {
            return Err(unavailable(format!("discovery answered {}", resp.status())));
        }
        let body = read_capped(resp).await.map_err(|e| unavailable(e.0))?;
        let metadata: CoreProviderMetadata = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("discovery document: {e}")))?;
        // The issuer must be the one configured (OpenID Connect Discovery §4.3); a multi-tenant
        // issuer publishes a template instead, checked per token.
        if !provider.config.multi_tenant()
            && metadata.issuer().as_str().trim_end_matches('/') != issuer
        {
            return Err(unavailable(format!(
                "discovery names the issuer `{}`, not `{issuer}`",
                metadata.issuer().as_str()
            )));
        }
        let jwks = CoreJsonWebKeySet::fetch_async(metadata.jwks_uri(), &self.send())
            .await
            .map_err(|e| unavailable(format!("keys: {e}")))?;
        Ok(metadata.set_jwks(jwks))
    }

    fn oidc_client(
        &self,
        provider: &Provider,
        d: &Discovered,
        redirect_uri: &str,
    ) -> Result<OidcClient, ProviderError> {
        let secret = client_secret(&provider.config)?;
        // HTTP Basic unless the provider takes the secret only in the body (Apple does).
        let basic = provider.config.preset != Some(Preset::Apple)
            && d.metadata
                .token_endpoint_auth_methods_supported()
                .is_none_or(|methods| {
                    methods.contains(&CoreClientAuthMethod::ClientSecretBasic)
                        || !methods.contains(&CoreClientAuthMethod::ClientSecretPost)
                });
        Ok(OidcClient::from_provider_metadata(
            d.metadata.clone(),
            ClientId::new(provider.config.client_id.clone()),
            Some(secret),
        )
        .set_auth_type(if basic {
            AuthType::BasicAuth
        } else {
            AuthType::RequestBody
        })
        .set_redirect_uri(redirect_url(redirect_uri)?))
    }

    fn oauth2_client(
        provider: &Provider,
        redirect_uri: &str,
    ) -> Result<
        oauth2::basic::BasicClient<
            EndpointSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointNotSet,
            EndpointSet,
        >,
        ProviderError,
    > {
        let Endpoints::Explicit {
            authorize_url,
            token_url,
            ..
        } = &provider.config.endpoints
        else {
            return Err(ProviderError::Unavailable(
                "not a plain OAuth 2.0 provider".to_owned(),
            ));
        };
        let bad = |e: url::ParseError| ProviderError::Unavailable(e.to_string());
        Ok(
            oauth2::basic::BasicClient::new(ClientId::new(provider.config.client_id.clone()))
                .set_client_secret(client_secret(&provider.config)?)
                .set_auth_uri(AuthUrl::new(authorize_url.clone()).map_err(bad)?)
                .set_token_uri(TokenUrl::new(token_url.clone()).map_err(bad)?)
                .set_redirect_uri(redirect_url(redirect_uri)?),
        )
    }

    /// Where to send the browser: the provider's authorization endpoint with the flow's
    /// `state`, `nonce` (OpenID) and PKCE S256 challenge.
    pub async fn authorization(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        secrets: &FlowSecrets,
    ) -> Result<Authorization, ProviderError> {
        let scopes = provider.config.scopes.iter().map(|s| Scope::new(s.clone()));
        let state = secrets.state.clone();
        let url = match &provider.config.endpoints {
            Endpoints::Discovery { .. } => {
                let d = self.discovered(provider, false).await?;
                let client = self.oidc_client(provider, &d, redirect_uri)?;
                let nonce = secrets.nonce.clone();
                let mut request = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        move || CsrfToken::new(state),
                        move || Nonce::new(nonce),
                    )
                    // `openid` is added by the library.
                    .add_scopes(scopes.filter(|s| s.as_str() != "openid"))
                    .set_pkce_challenge(secrets.challenge());
                if provider.config.form_post() {
                    request = request.add_extra_param("response_mode", "form_post");
                }
                request.url().0
            }
            Endpoints::Explicit { .. } => {
                Self::oauth2_client(provider, redirect_uri)?
                    .authorize_url(move || CsrfToken::new(state))
                    .add_scopes(scopes)
                    .set_pkce_challenge(secrets.challenge())
                    .url()
                    .0
            }
        };
        Ok(Authorization { url: url.into() })
    }

    /// Exchanges the callback's code and learns who signed in.
    pub async fn exchange(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        code: &str,
        secrets: &FlowSecrets,
    ) -> Result<ProviderUser, ProviderError> {
        match &provider.config.endpoints {
            Endpoints::Discovery { .. } => {
                self.exchange_oidc(provider, redirect_uri, code, secrets)
                    .await
            }
            Endpoints::Explicit { userinfo_url, .. } => {
                let tokens = Self::oauth2_client(provider, redirect_uri)?
                    .exchange_code(AuthorizationCode::new(code.to_owned()))
                    .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.clone()))
                    .request_async(&self.send())
                    .await
                    .map_err(token_error)?;
                self.oauth2_user(provider, userinfo_url, tokens.access_token())
                    .await
            }
        }
    }

    async fn exchange_oidc(
        &self,
        provider: &Provider,
        redirect_uri: &str,
        code: &str,
        secrets: &FlowSecrets,
    ) -> Result<ProviderUser, ProviderError> {
        let d = self.discovered(provider, false).await?;
        let client = self.oidc_client(provider, &d, redirect_uri)?;
        let tokens = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| ProviderError::Unavailable(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(secrets.pkce_verifier.clone()))
            .request_async(&self.send())
            .await
            .map_err(token_error)?;
        let nonce = Nonce::new(secrets.nonce.clone());
        let issuer = d.metadata.issuer().as_str();
        let claims = match verify_id_token(provider, issuer, &client, &tokens, &nonce) {
            Err(Refusal::UnknownKey) => {
                let d = self.discovered(provider, true).await?;
                let client = self.oidc_client(provider, &d, redirect_uri)?;
                verify_id_token(provider, issuer, &client, &tokens, &nonce)
            }
            other => other,
        }
        .map_err(|r| match r {
            Refusal::UnknownKey => ProviderError::InvalidIdToken(
                "signed with a key the issuer does not publish".into(),
            ),
            Refusal::Invalid(e) => ProviderError::InvalidIdToken(e),
        })?;
        let mut user = ProviderUser {
            subject: claims.subject().to_string(),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            mfa: claims
                .auth_method_refs()
                .is_some_and(|amr| amr.iter().any(|m| m.as_str() == "mfa")),
        };
        // Many providers put the address only in userinfo (the ID token of a code flow need not
        // carry it); the answer must be about the same subject.
        if user.email.is_none() {
            if let Ok(request) = client.user_info(
                tokens.access_token().clone(),
                Some(claims.subject().clone()),
            ) {
                let info: openidconnect::UserInfoClaims<ExtraClaims, CoreGenderClaim> = request
                    .request_async(&self.send())
                    .await
                    .map_err(|e| ProviderError::InvalidUser(format!("userinfo: {e}")))?;
                user.email = info.email().map(|e| e.to_string());
                user.email_verified = info.email_verified().unwrap_or(false);
                if user.name.is_none() {
                    user.name = info.name().and_then(|n| n.get(None)).map(|n| n.to_string());
                }
            }
        }
        Ok(user)
    }

    /// The user of a plain OAuth 2.0 provider: its userinfo answer (`sub` or `id`, `email`,
    /// `email_verified`, `name`); for GitHub, the primary verified address from its emails API
    /// (the profile's `email` is whatever the user chose to show, verified or not).
    async fn oauth2_user(
        &self,
        provider: &Provider,
        userinfo_url: &str,
        token: &AccessToken,
    ) -> Result<ProviderUser, ProviderError> {
        #[derive(Deserialize)]
        struct Info {
            #[serde(default)]
            sub: Option<serde_json::Value>,
            #[serde(default)]
            id: Option<serde_json::Value>,
            #[serde(default)]
            email: Option<String>,
            #[serde(default)]
            email_verified: Option<bool>,
            #[serde(default)]
            name: Option<String>,
        }
        #[derive(Deserialize)]
        struct GitHubEmail {
            email: String,
            primary: bool,
            verified: bool,
        }
        let info: Info = self.get_json(userinfo_url, token).await?;
        let subject = match info.sub.or(info.id) {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => {
                return Err(ProviderError::InvalidUser(
                    "userinfo names no subject (`sub` or `id`)".into(),
                ))
            }
        };
        let (email, email_verified) = if provider.config.preset == Some(Preset::GitHub) {
            let emails: Vec<GitHubEmail> = self
                .get_json(&format!("{userinfo_url}/emails"), token)
                .await?;
            match emails.into_iter().find(|e| e.primary && e.verified) {
                Some(e) => (Some(e.email), true),
                None => (None, false),
            }
        } else {
            (info.email, info.email_verified.unwrap_or(false))
        };
        Ok(ProviderUser {
            subject,
            email,
            email_verified,
            name: info.name,
            mfa: false,
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        token: &AccessToken,
    ) -> Result<T, ProviderError> {
        let resp = self
            .http
            .get(url)
            .bearer_auth(token.secret())
            .header(reqwest::header::ACCEPT, "application/json")
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| ProviderError::Unavailable(e.without_url().to_string()))?;
        let status = resp.status();
        if status.is_server_error() {
            return Err(ProviderError::Unavailable(format!(
                "user API answered {status}"
            )));
        }
        if !status.is_success() {
            return Err(ProviderError::InvalidUser(format!(
                "user API answered {status}"
            )));
        }
        let body = read_capped(resp)
            .await
            .map_err(|e| ProviderError::Unavailable(e.0))?;
        serde_json::from_slice(&body)
            .map_err(|e| ProviderError::InvalidUser(format!("user API answer: {e}")))
    }
}

enum Refusal {
    /// Signed with a key not in the JWKS we hold: read it again, once.
    UnknownKey,
    Invalid(String),
}

fn verify_id_token(
    provider: &Provider,
    issuer: &str,
    client: &OidcClient,
    tokens: &OidcTokens,
    nonce: &Nonce,
) -> Result<Claims, Refusal> {
    use openidconnect::{ClaimsVerificationError as C, SignatureVerificationError as S};
    let id_token = tokens
        .id_token()
        .ok_or_else(|| Refusal::Invalid("the token answer has no ID token".into()))?;
    let multi_tenant = provider.config.multi_tenant();
    let verifier = client
        .id_token_verifier()
        .require_issuer_match(!multi_tenant);
    let claims = match id_token.claims(&verifier, nonce) {
        Ok(c) => c.clone(),
        Err(C::SignatureVerification(S::NoMatchingKey)) => return Err(Refusal::UnknownKey),
        Err(e) => return Err(Refusal::Invalid(e.to_string())),
    };
    if multi_tenant {
        // The metadata's issuer is `https://login.microsoftonline.com/{tenantid}/v2.0`.
        let tid = claims
            .additional_claims()
            .tid
            .as_deref()
            .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
            .ok_or_else(|| {
                Refusal::Invalid("no tenant (`tid`) in a multi-tenant ID token".into())
            })?;
        let expected = issuer.replace("{tenantid}", tid);
        if claims.issuer().as_str() != expected {
            return Err(Refusal::Invalid(format!(
                "issuer `{}` is not the token's tenant's",
                claims.issuer().as_str()
            )));
        }
    }
    if let Some(expected) = claims.access_token_hash() {
        let alg = id_token
            .signing_alg()
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        let key = id_token
            .signing_key(&verifier)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        let actual = AccessTokenHash::from_token(tokens.access_token(), alg, key)
            .map_err(|e| Refusal::Invalid(e.to_string()))?;
        if actual != *expected {
            return Err(Refusal::Invalid(
                "at_hash does not match the access token".into(),
            ));
        }
    }
    Ok(claims)
}

fn token_error<
    RE: std::error::Error + 'static,
    ET: oauth2::ErrorResponseType + std::fmt::Display + 'static,
>(
    e: oauth2::RequestTokenError<RE, StandardErrorResponse<ET>>,
) -> ProviderError {
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => {
            // The provider's own trouble (RFC 6749 §5.2 has no such code, but providers answer
            // it with a 5xx), not a verdict on the code.
            let code = serde_json::to_value(r.error()).unwrap_or_default();
            if matches!(
                code.as_str(),
                Some("server_error" | "temporarily_unavailable")
            ) {
                ProviderError::Unavailable(r.to_string())
            } else {
                ProviderError::ExchangeRefused(r.to_string())
            }
        }
        oauth2::RequestTokenError::Request(e) => ProviderError::Unavailable(e.to_string()),
        other => ProviderError::Unavailable(other.to_string()),
    }
}

fn redirect_url(raw: &str) -> Result<RedirectUrl, ProviderError> {
    RedirectUrl::new(raw.to_owned()).map_err(|e| ProviderError::Unavailable(e.to_string()))
}

/// The secret presented at the token endpoint; Apple's is made fresh, signed with the team's key
/// (ES256, valid five minutes, as Apple's documentation describes).
fn client_secret(config: &ProviderConfig) -> Result<ClientSecret, ProviderError> {
    match &config.client_secret {
        SecretSetting::Static(s) => Ok(ClientSecret::new(s.expose().to_owned())),
        SecretSetting::AppleKey {
            team_id,
            key_id,
            private_key,
        } => {
            #[derive(Serialize)]
            struct AppleClaims<'a> {
                iss: &'a str,
                iat: i64,
                exp: i64,
                aud: &'a str,
                sub: &'a str,
            }
            let now = chrono::Utc::now().timestamp();
            let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
            header.kid = Some(key_id.clone());
            let key = jsonwebtoken::EncodingKey::from_ec_pem(private_key.expose().as_bytes())
                .map_err(|e| ProviderError::Unavailable(format!("Apple key: {e}")))?;
            let jwt = jsonwebtoken::encode(
                &header,
                &AppleClaims {
                    iss: team_id,
                    iat: now,
                    exp: now + 300,
                    aud: crate::settings::providers::APPLE_ISSUER,
                    sub: &config.client_id,
                },
                &key,
            )
            .map_err(|e| ProviderError::Unavailable(format!("Apple client secret: {e}")))?;
            Ok(ClientSecret::new(jwt))
        }
    }
}
