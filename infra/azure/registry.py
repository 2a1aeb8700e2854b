"""Push credentials for the workspace's container registry, with its admin user disabled.

``listRegistryCredentials`` (the admin user's password) works only with the admin user
enabled, which the stack never does. What works without it is ACR's Entra ID exchange
(https://github.com/Azure/acr/blob/main/docs/AAD-OAuth.md, the flow ``az acr login`` uses):
POST the deploying identity's ARM access token to ``https://<login server>/oauth2/exchange``
and get an ACR refresh token, which Docker/BuildKit sends as the password of the user
``00000000-0000-0000-0000-000000000000``. The token lives about three hours and is fetched
on every ``pulumi up`` (never on a preview, which builds nothing); it stays a secret output.
The deploying identity needs push rights on the registry (Owner, Contributor or AcrPush).
"""

from __future__ import annotations

ACR_TOKEN_USER = "00000000-0000-0000-0000-000000000000"


def exchange_token(
    login_server: str, tenant: str, aad_token: str, *, base: str | None = None
) -> str:
    """An ACR refresh token for ``aad_token`` (an Entra ID access token for ARM).
    ``base`` replaces ``https://<login server>`` (tests: a fake registry on loopback)."""
    import requests

    url = f"{base or 'https://' + login_server}/oauth2/exchange"
    resp = requests.post(
        url,
        data={
            "grant_type": "access_token",
            "service": login_server,
            "tenant": tenant,
            "access_token": aad_token,
        },
        timeout=60,
    )
    if resp.status_code != 200:
        raise RuntimeError(
            f"ACR token exchange at {url}: HTTP {resp.status_code}; the deploying identity "
            "needs push rights on the registry (AcrPush, Contributor or Owner)"
        )
    token = resp.json().get("refresh_token")
    if not token:
        raise RuntimeError(f"ACR token exchange at {url}: no refresh_token in the answer")
    return token
