"""Verifies webhook deliveries with the Standard Webhooks reference library (PyPI
`standardwebhooks`), an implementation independent of authgate's.

Usage: verify_webhooks.py SECRET FILE, where FILE holds a JSON list of {"headers": {...},
"body": "..."}. Prints one line per message: `ok <type>` or `invalid <reason>`.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

secret, path = sys.argv[1], sys.argv[2]
hook = Webhook(secret)
with open(path, encoding="utf-8") as f:
    messages = json.load(f)
for message in messages:
    try:
        payload = hook.verify(message["body"], message["headers"])
        print("ok", payload["type"])
    except WebhookVerificationError as e:
        print("invalid", e)
