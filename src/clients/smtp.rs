//! Delivery of one mail: SMTP through lettre, or the log when no SMTP server is configured
//! (development only).

use std::time::Duration;

use anyhow::Context as _;
use lettre::message::{header::ContentType, Mailbox, MultiPart, SinglePart};
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::settings::Settings;

enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Log,
}

pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    timeout: Duration,
    /// Scrubbed from every error text, in case a library ever echoes it.
    secret: Option<String>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("smtp", &matches!(self.transport, Transport::Smtp(_)))
            .field("from", &self.from.to_string())
            .finish()
    }
}

/// Why a delivery failed. `permanent` failures are not retried (the message cannot be built).
#[derive(Debug)]
pub struct SendError {
    pub message: String,
    pub permanent: bool,
}

impl Mailer {
    pub fn new(settings: &Settings) -> anyhow::Result<Self> {
        let from: Mailbox = settings
            .mail_from
            .parse()
            .context("AUTHGATE_MAIL_FROM is not a mail address")?;
        let transport = match &settings.smtp_url {
            Some(url) => Transport::Smtp(
                // The URL error of lettre does not include the URL; nothing secret is printed.
                AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| anyhow::anyhow!("AUTHGATE_SMTP_URL is invalid: {e}"))?
                    .timeout(Some(settings.smtp_timeout))
                    .build(),
            ),
            None => Transport::Log,
        };
        Ok(Self {
            transport,
            from,
            timeout: settings.smtp_timeout,
            secret: settings.smtp_url.as_ref().and_then(|u| u.password()),
        })
    }

    pub fn is_smtp(&self) -> bool {
        matches!(self.transport, Transport::Smtp(_))
    }

    /// Sends one mail. The whole exchange is bounded by the SMTP timeout.
    pub async fn send(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: Option<String>,
    ) -> Result<(), SendError> {
        let message = self
            .build(to, subject, text.clone(), html)
            .map_err(|e| SendError {
                message: format!("mail cannot be built: {e}"),
                permanent: true,
            })?;
        match &self.transport {
            Transport::Log => {
                tracing::warn!(
                    target: "authgate::mail",
                    development_only = true,
                    to,
                    subject,
                    body = %text,
                    "DEVELOPMENT ONLY: AUTHGATE_SMTP_URL is not set, so this mail was written to the log instead of being sent"
                );
                Ok(())
            }
            Transport::Smtp(smtp) => {
                match tokio::time::timeout(self.timeout, smtp.send(message)).await {
                    Ok(Ok(_)) => Ok(()),
                    Ok(Err(e)) => Err(SendError {
                        message: self.scrub(format!("SMTP: {e}")),
                        permanent: false,
                    }),
                    Err(_) => Err(SendError {
                        message: format!("SMTP: no answer within {:?}", self.timeout),
                        permanent: false,
                    }),
                }
            }
        }
    }

    fn build(
        &self,
        to: &str,
        subject: &str,
        text: String,
        html: Option<String>,
    ) -> anyhow::Result<Message> {
        let to: Mailbox = to.parse()?;
        let builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject);
        Ok(match html {
            Some(html) => builder.multipart(MultiPart::alternative_plain_html(text, html))?,
            None => builder.singlepart(
                SinglePart::builder()
                    .header(ContentType::TEXT_PLAIN)
                    .body(text),
            )?,
        })
    }

    /// Error texts end up in `outbox.last_error` and the log: never with the SMTP password.
    fn scrub(&self, mut message: String) -> String {
        if let Some(secret) = self.secret.as_deref().filter(|s| !s.is_empty()) {
            message = message.replace(secret, "[redacted]");
        }
        message.chars().take(500).collect()
    }
}
