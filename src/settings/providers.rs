//! `AUTHGATE_PROVIDERS`: the identity providers users may sign in with, each configured by
//! variables named after its id (`AUTHGATE_PROVIDER_<ID>_CLIENT_ID`, ...), read when the list is
//! parsed so that a bad provider stops startup with one line. Presets fill in what Google,
//! Microsoft, Apple and GitHub publish; any other OpenID provider needs only its issuer.

use std::fmt;

use super::secrets::{value_or_file, Secret};
use super::values::listed_ids;

/// Providers whose particulars authgate knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    Google,
    /// Microsoft identity platform (Entra ID and personal accounts). The `common`,
    /// `organizations` and `consumers` issuers are multi-tenant: each ID token's `iss` names the
    /// tenant (`tid`) that signed the user in, and is checked against it.
    Microsoft,
    /// Sign in with Apple: the callback is a form POST, and the client secret a short-lived
    /// ES256 JWT signed with the team's key.
    Apple,
    /// GitHub: plain OAuth 2.0; the address is the account's primary verified one, read from its API.
    GitHub,
}

impl Preset {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "google" => Some(Self::Google),
            "microsoft" => Some(Self::Microsoft),
            "apple" => Some(Self::Apple),
            "github" => Some(Self::GitHub),
            _ => None,
        }
    }
}

pub const GOOGLE_ISSUER: &str = "https://accounts.google.com";
pub const MICROSOFT_ISSUER: &str = "https://login.microsoftonline.com/common/v2.0";
pub const APPLE_ISSUER: &str = "https://appleid.apple.com";
pub const GITHUB_AUTHORIZE_URL: &str = "https://github.com/login/oauth/authorize";
pub const GITHUB_TOKEN_URL: &str = "https://github.com/login/oauth/access_token";
pub const GITHUB_USERINFO_URL: &str = "https://api.github.com/user";

/// Where a provider's endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoints {
    /// OpenID Connect: discovered from `<issuer>/.well-known/openid-configuration`; ID tokens
    /// are verified against the issuer's JWKS.
    Discovery { issuer: String },
    /// Plain OAuth 2.0: no ID token; the user is read from `userinfo_url` with the access token.
    Explicit {
        authorize_url: String,
        token_url: String,
        userinfo_url: String,
    },
}

/// How authgate proves itself at the token endpoint.
#[derive(Clone)]
pub enum ClientSecret {
    Static(Secret),
    /// Apple's: a JWT signed with this `.p8` key (PKCS#8 PEM), made afresh as needed.
    AppleKey {
        team_id: String,
        key_id: String,
        private_key: Secret,
    },
}

impl fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(s) => write!(f, "{s:?}"),
            Self::AppleKey {
                team_id, key_id, ..
            } => f
                .debug_struct("AppleKey")
                .field("team_id", team_id)
                .field("key_id", key_id)
                .field("private_key", &"[redacted]")
                .finish(),
        }
    }
}

/// One identity provider.
#[derive(Debug, Clone)]
pub struct ProviderConfig {
    /// Lower-case `[a-z0-9]+`: the `{provider}` of the API's paths.
    pub id: String,
    pub preset: Option<Preset>,
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub endpoints: Endpoints,
    pub scopes: Vec<String>,
    /// A verified address the provider vouches for signs in to the account holding it, linking
    /// the identity, instead of asking the user to sign in and link first.
    pub auto_link: bool,
    /// An ID token whose `amr` says the provider checked several factors (`mfa`) stands for
    /// authgate's second factor.
    pub trust_mfa: bool,
}

impl ProviderConfig {
    /// Whether the provider is authoritative for the addresses it calls verified. Microsoft's
    /// `email` claim is whatever the tenant's admin typed, verified by nobody: never trusted.
    pub fn vouches_for_email(&self) -> bool {
        self.preset != Some(Preset::Microsoft)
    }

    /// Apple posts the callback as a form (`response_mode=form_post`).
    pub fn form_post(&self) -> bool {
        self.preset == Some(Preset::Apple)
    }

    /// The multi-tenant issuers, where `iss` is checked against the token's tenant.
    pub fn multi_tenant(&self) -> bool {
        matches!(&self.endpoints, Endpoints::Discovery { issuer }
            if self.preset == Some(Preset::Microsoft)
                && ["common", "organizations", "consumers"]
                    .iter()
                    .any(|t| issuer.trim_end_matches('/').ends_with(&format!("/{t}/v2.0"))))
    }
}

/// `AUTHGATE_PROVIDERS` with each provider's variables read from the process environment.
pub fn providers(raw: &str) -> Result<Vec<ProviderConfig>, String> {
    providers_from(raw, |name| std::env::var(name).ok())
}

fn http_url(var: &str, raw: &str) -> Result<String, String> {
    let url = url::Url::parse(raw).map_err(|e| format!("{var}: not a URL ({e})"))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(format!("{var}: must be an http(s) URL"));
    }
    Ok(raw.trim_end_matches('/').to_owned())
}

/// [`providers`] over any environment (`env` answers a variable's value).
pub fn providers_from(
    raw: &str,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<ProviderConfig>, String> {
    let mut providers = Vec::new();
    for id in listed_ids(raw, "provider")? {
        let var = |suffix: &str| format!("AUTHGATE_PROVIDER_{}_{suffix}", id.to_ascii_uppercase());
        let get = |suffix: &str| env(&var(suffix)).filter(|v| !v.trim().is_empty());
        let preset = match get("PRESET") {
            Some(p) => Some(Preset::parse(p.trim()).ok_or_else(|| {
                format!(
                    "{}: unknown preset `{p}` (known: google, microsoft, apple, github)",
                    var("PRESET")
                )
            })?),
            None => Preset::parse(id),
        };
        let client_id =
            get("CLIENT_ID").ok_or_else(|| format!("{} is not set", var("CLIENT_ID")))?;
        let (secret_var, file_var) = (var("CLIENT_SECRET"), var("CLIENT_SECRET_FILE"));
        let secret = value_or_file(&env, &secret_var, &file_var)?.filter(|s| !s.is_empty());
        let client_secret = match (secret, preset) {
            (Some(s), _) => ClientSecret::Static(Secret::new(s)),
            (None, Some(Preset::Apple)) => {
                let need = |suffix: &str| {
                    get(suffix).ok_or_else(|| {
                        format!(
                            "{} (or {secret_var}) is not set: Apple's client secret is a JWT signed with the team's key",
                            var(suffix)
                        )
                    })
                };
                let (team_id, key_id) = (need("TEAM_ID")?, need("KEY_ID")?);
                let key_var = var("PRIVATE_KEY_FILE");
                let path = need("PRIVATE_KEY_FILE")?;
                let pem = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{key_var}={path}: cannot be read ({e})"))?;
                jsonwebtoken::EncodingKey::from_ec_pem(pem.as_bytes()).map_err(|_| {
                    format!("{key_var}={path}: not an EC private key in PEM (the .p8 file Apple issues)")
                })?;
                ClientSecret::AppleKey {
                    team_id,
                    key_id,
                    private_key: Secret::new(pem),
                }
            }
            (None, _) => return Err(format!("{secret_var} (or {file_var}) is not set")),
        };
        let explicit = [get("AUTHORIZE_URL"), get("TOKEN_URL"), get("USERINFO_URL")];
        let endpoints = match (get("ISSUER"), explicit, preset) {
            (Some(_), [Some(_), ..] | [_, Some(_), _] | [.., Some(_)], _) => {
                return Err(format!(
                    "{} and {} are both set: an OpenID provider is discovered from its issuer, \
                     a plain OAuth 2.0 provider needs the three endpoints",
                    var("ISSUER"),
                    var("AUTHORIZE_URL")
                ))
            }
            (Some(issuer), _, _) => Endpoints::Discovery {
                issuer: http_url(&var("ISSUER"), issuer.trim())?,
            },
            (
                None,
                [None, None, None],
                Some(p @ (Preset::Google | Preset::Microsoft | Preset::Apple)),
            ) => Endpoints::Discovery {
                issuer: match p {
                    Preset::Google => GOOGLE_ISSUER,
                    Preset::Microsoft => MICROSOFT_ISSUER,
                    _ => APPLE_ISSUER,
                }
                .to_owned(),
            },
            (None, [a, t, u], Some(Preset::GitHub)) => Endpoints::Explicit {
                authorize_url: http_url(
                    &var("AUTHORIZE_URL"),
                    a.as_deref().unwrap_or(GITHUB_AUTHORIZE_URL),
                )?,
                token_url: http_url(&var("TOKEN_URL"), t.as_deref().unwrap_or(GITHUB_TOKEN_URL))?,
                userinfo_url: http_url(
                    &var("USERINFO_URL"),
                    u.as_deref().unwrap_or(GITHUB_USERINFO_URL),
                )?,
            },
            (None, [Some(a), Some(t), Some(u)], _) => Endpoints::Explicit {
                authorize_url: http_url(&var("AUTHORIZE_URL"), &a)?,
                token_url: http_url(&var("TOKEN_URL"), &t)?,
                userinfo_url: http_url(&var("USERINFO_URL"), &u)?,
            },
            (None, _, _) => {
                return Err(format!(
                    "{} is not set (or, for a plain OAuth 2.0 provider, all of {}, {} and {})",
                    var("ISSUER"),
                    var("AUTHORIZE_URL"),
                    var("TOKEN_URL"),
                    var("USERINFO_URL")
                ))
            }
        };
        let default_scopes = match preset {
            Some(Preset::GitHub) => "read:user user:email",
            Some(Preset::Apple) => "openid email name",
            _ => "openid email profile",
        };
        let scopes: Vec<String> = get("SCOPES")
            .as_deref()
            .unwrap_or(default_scopes)
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if matches!(endpoints, Endpoints::Discovery { .. }) && !scopes.iter().any(|s| s == "openid")
        {
            return Err(format!(
                "{}: an OpenID provider needs the `openid` scope",
                var("SCOPES")
            ));
        }
        let flag = |suffix: &str| -> Result<bool, String> {
            match get(suffix).as_deref().map(str::trim) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(other) => Err(format!("{}: `{other}` is not true or false", var(suffix))),
            }
        };
        let auto_link = flag("AUTO_LINK")?;
        if auto_link && preset == Some(Preset::Microsoft) {
            return Err(format!(
                "{}: Microsoft does not verify the addresses it reports, so they cannot link accounts",
                var("AUTO_LINK")
            ));
        }
        providers.push(ProviderConfig {
            id: id.to_owned(),
            preset,
            client_id,
            client_secret,
            endpoints,
            scopes,
            auto_link,
            trust_mfa: flag("TRUST_MFA")?,
        });
    }
    Ok(providers)
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::settings::values::test_env as env;

    #[test]
    fn presets_fill_in_what_the_provider_publishes() {
        let vars = [
            ("AUTHGATE_PROVIDER_GOOGLE_CLIENT_ID", "g-id"),
            ("AUTHGATE_PROVIDER_GOOGLE_CLIENT_SECRET", "g-secret"),
            ("AUTHGATE_PROVIDER_GITHUB_CLIENT_ID", "gh-id"),
            ("AUTHGATE_PROVIDER_GITHUB_CLIENT_SECRET", "gh-secret"),
            ("AUTHGATE_PROVIDER_WORK_PRESET", "microsoft"),
            ("AUTHGATE_PROVIDER_WORK_CLIENT_ID", "ms-id"),
            ("AUTHGATE_PROVIDER_WORK_CLIENT_SECRET", "ms-secret"),
            (
                "AUTHGATE_PROVIDER_CORP_ISSUER",
                "https://idp.example.com/realms/x/",
            ),
            ("AUTHGATE_PROVIDER_CORP_CLIENT_ID", "c"),
            ("AUTHGATE_PROVIDER_CORP_CLIENT_SECRET", "s"),
            ("AUTHGATE_PROVIDER_CORP_AUTO_LINK", "true"),
        ];
        let p = providers_from("google,github,work,corp", env(&vars)).unwrap();
        assert_eq!(
            p[0].endpoints,
            Endpoints::Discovery {
                issuer: GOOGLE_ISSUER.into()
            }
        );
        assert_eq!(p[0].scopes, ["openid", "email", "profile"]);
        assert!(
            matches!(&p[1].endpoints, Endpoints::Explicit { userinfo_url, .. } if userinfo_url == GITHUB_USERINFO_URL)
        );
        assert_eq!(p[1].scopes, ["read:user", "user:email"]);
        assert!(p[2].multi_tenant() && !p[2].vouches_for_email());
        assert_eq!(
            p[3].endpoints,
            Endpoints::Discovery {
                issuer: "https://idp.example.com/realms/x".into()
            }
        );
        assert!(p[3].auto_link && p[3].preset.is_none() && !p[3].multi_tenant());
        assert!(
            !format!("{p:?}").contains("g-secret"),
            "secrets are redacted"
        );
    }

    #[test]
    fn a_bad_provider_is_one_clear_line() {
        let base = [
            ("AUTHGATE_PROVIDER_CORP_CLIENT_ID", "c"),
            ("AUTHGATE_PROVIDER_CORP_CLIENT_SECRET", "s"),
        ];
        let err = providers_from("corp", env(&base)).unwrap_err();
        assert!(
            err.starts_with("AUTHGATE_PROVIDER_CORP_ISSUER is not set"),
            "{err}"
        );
        let both = [
            base[0],
            base[1],
            ("AUTHGATE_PROVIDER_CORP_ISSUER", "https://idp.example.com"),
            (
                "AUTHGATE_PROVIDER_CORP_TOKEN_URL",
                "https://idp.example.com/t",
            ),
        ];
        assert!(providers_from("corp", env(&both))
            .unwrap_err()
            .contains("both set"));
        let bad_url = [
            base[0],
            base[1],
            ("AUTHGATE_PROVIDER_CORP_ISSUER", "idp.example.com"),
        ];
        assert!(providers_from("corp", env(&bad_url)).is_err());
        let no_openid = [
            base[0],
            base[1],
            ("AUTHGATE_PROVIDER_CORP_ISSUER", "https://idp.example.com"),
            ("AUTHGATE_PROVIDER_CORP_SCOPES", "email"),
        ];
        assert!(providers_from("corp", env(&no_openid))
            .unwrap_err()
            .contains("openid"));
        let ms_link = [
            ("AUTHGATE_PROVIDER_MICROSOFT_CLIENT_ID", "c"),
            ("AUTHGATE_PROVIDER_MICROSOFT_CLIENT_SECRET", "s"),
            ("AUTHGATE_PROVIDER_MICROSOFT_AUTO_LINK", "true"),
        ];
        assert!(providers_from("microsoft", env(&ms_link))
            .unwrap_err()
            .contains("AUTO_LINK"));
        let apple = [("AUTHGATE_PROVIDER_APPLE_CLIENT_ID", "com.example.web")];
        assert!(providers_from("apple", env(&apple))
            .unwrap_err()
            .contains("TEAM_ID"));
        assert!(providers_from("Corp", env(&base)).is_err());
        assert!(providers_from("corp,corp", env(&both)).is_err());
        let no_secret = [
            base[0],
            ("AUTHGATE_PROVIDER_CORP_ISSUER", "https://idp.example.com"),
        ];
        assert!(providers_from("corp", env(&no_secret))
            .unwrap_err()
            .contains("AUTHGATE_PROVIDER_CORP_CLIENT_SECRET"));
    }
}
