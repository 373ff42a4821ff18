//! Bootstrap configuration: defaults → TOML file → `SWITCHBOARD_*` environment → command line.
//! Only what is needed before the database is open lives here; everything an admin edits in the
//! console (Office 365 connection, sync settings) is stored in the database.

use anyhow::{Context, bail};
use serde::Deserialize;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use url::Url;

#[derive(Clone, Deserialize)]
pub struct BootstrapConfig {
    /// Address the console, API and webhooks listen on.
    pub listen: SocketAddr,
    /// `sqlite://switchboard.db` (default, relative to `data_dir`) or `postgres://…`.
    pub database_url: String,
    /// Private keys and the default SQLite file live here.
    pub data_dir: PathBuf,
    /// The HTTPS address Microsoft and browsers reach this server at. Without it, the redirect URL
    /// is built from `listen` and Graph changes are polled instead of pushed.
    pub public_url: Option<Url>,
    pub graph_url: Url,
    pub login_url: Url,
    /// Resource of the app-only token; differs only in national clouds.
    pub graph_scope: String,
    /// Subject of generated certificates.
    pub certificate_subject: String,
    pub certificate_validity_days: u32,
    /// `text` or `json`.
    pub log_format: String,
}

impl fmt::Debug for BootstrapConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapConfig")
            .field("listen", &self.listen)
            .field("database_url", &redact_url(&self.database_url))
            .field("data_dir", &self.data_dir)
            .field("public_url", &self.public_url.as_ref().map(Url::as_str))
            .field("graph_url", &self.graph_url.as_str())
            .field("login_url", &self.login_url.as_str())
            .field("graph_scope", &self.graph_scope)
            .field("certificate_subject", &self.certificate_subject)
            .field("certificate_validity_days", &self.certificate_validity_days)
            .field("log_format", &self.log_format)
            .finish()
    }
}

/// `postgres://user:secret@host/db` → `postgres://user:***@host/db`.
pub fn redact_url(raw: &str) -> String {
    match Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(_) => raw.to_owned(),
        Err(_) if raw.contains('@') => "(unparsable URL with credentials)".to_owned(),
        Err(_) => raw.to_owned(),
    }
}

/// Values given on the command line (highest precedence).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub public_url: Option<String>,
    pub graph_url: Option<String>,
    pub login_url: Option<String>,
}

impl BootstrapConfig {
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> anyhow::Result<Self> {
        Self::load_from(
            file,
            overrides,
            config::Environment::with_prefix("SWITCHBOARD"),
        )
    }

    pub fn load_from(
        file: Option<&Path>,
        overrides: &Overrides,
        env: config::Environment,
    ) -> anyhow::Result<Self> {
        let mut builder = config::Config::builder()
            .set_default("listen", "127.0.0.1:5001")?
            .set_default("database_url", "sqlite://switchboard.db")?
            .set_default("data_dir", ".")?
            .set_default("graph_url", "https://graph.microsoft.com")?
            .set_default("login_url", "https://login.microsoftonline.com")?
            .set_default("graph_scope", "https://graph.microsoft.com/.default")?
            .set_default("certificate_subject", "Switchboard")?
            .set_default("certificate_validity_days", 730)?
            .set_default("log_format", "text")?;
        if let Some(path) = file {
            if !path.exists() {
                bail!(
                    "configuration file {} does not exist: create it or leave out --config",
                    path.display()
                );
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        builder = builder
            .add_source(env)
            .set_override_option("listen", overrides.listen.map(|a| a.to_string()))?
            .set_override_option("database_url", overrides.database_url.clone())?
            .set_override_option(
                "data_dir",
                overrides.data_dir.as_ref().map(|d| d.display().to_string()),
            )?
            .set_override_option("public_url", overrides.public_url.clone())?
            .set_override_option("graph_url", overrides.graph_url.clone())?
            .set_override_option("login_url", overrides.login_url.clone())?;
        let mut cfg: BootstrapConfig = builder
            .build()
            .context("reading the configuration")?
            .try_deserialize()
            .context(
                "invalid configuration (check the TOML file and SWITCHBOARD_* variables; \
                 URLs need a scheme such as https://, listen needs host:port)",
            )?;
        cfg.validate()?;
        cfg.database_url = cfg.resolved_database_url();
        Ok(cfg)
    }

    fn validate(&self) -> anyhow::Result<()> {
        if let Some(public) = &self.public_url
            && !matches!(public.scheme(), "https" | "http")
        {
            bail!("public_url must be an http(s) URL, got {public}");
        }
        for (name, url) in [
            ("graph_url", &self.graph_url),
            ("login_url", &self.login_url),
        ] {
            if !matches!(url.scheme(), "https" | "http") {
                bail!("{name} must be an http(s) URL, got {url}");
            }
        }
        if !(1..=3650).contains(&self.certificate_validity_days) {
            bail!(
                "certificate_validity_days must be between 1 and 3650, got {}",
                self.certificate_validity_days
            );
        }
        if !matches!(self.log_format.as_str(), "text" | "json") {
            bail!(
                "log_format must be \"text\" or \"json\", got \"{}\"",
                self.log_format
            );
        }
        Ok(())
    }

    /// A relative SQLite path is taken relative to `data_dir`.
    fn resolved_database_url(&self) -> String {
        let url = &self.database_url;
        let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        else {
            return url.clone();
        };
        if path.starts_with(':') || Path::new(path).is_absolute() {
            return url.clone();
        }
        format!("sqlite://{}", self.data_dir.join(path).display())
    }

    /// Base URL browsers use: `public_url`, else `http://{listen}`.
    pub fn base_url(&self) -> String {
        match &self.public_url {
            Some(u) => u.as_str().trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    pub fn redirect_url(&self) -> String {
        format!("{}/oauth2office2", self.base_url())
    }

    pub fn keys_dir(&self) -> PathBuf {
        self.data_dir.join("keys")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(vars: &[(&str, &str)]) -> config::Environment {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        config::Environment::with_prefix("SWITCHBOARD").source(Some(map))
    }

    #[test]
    fn defaults() {
        let cfg = BootstrapConfig::load_from(None, &Overrides::default(), env(&[])).unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:5001");
        assert_eq!(cfg.database_url, "sqlite://./switchboard.db");
        assert_eq!(cfg.redirect_url(), "http://127.0.0.1:5001/oauth2office2");
        assert_eq!(cfg.graph_url.as_str(), "https://graph.microsoft.com/");
    }

    #[test]
    fn file_then_env_then_cli() {
        let dir = std::env::temp_dir().join(format!("sb-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("switchboard.toml");
        std::fs::write(
            &file,
            "listen = \"0.0.0.0:8080\"\npublic_url = \"https://pbx.example.com/\"\ndata_dir = \"/var/lib/switchboard\"\n",
        )
        .unwrap();
        let cfg = BootstrapConfig::load_from(
            Some(&file),
            &Overrides::default(),
            env(&[("SWITCHBOARD_LISTEN", "127.0.0.1:9000")]),
        )
        .unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:9000", "env beats file");
        assert_eq!(cfg.redirect_url(), "https://pbx.example.com/oauth2office2");
        assert_eq!(
            cfg.database_url,
            "sqlite:///var/lib/switchboard/switchboard.db"
        );
        let cli = Overrides {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            ..Default::default()
        };
        let cfg = BootstrapConfig::load_from(
            Some(&file),
            &cli,
            env(&[("SWITCHBOARD_LISTEN", "127.0.0.1:9000")]),
        )
        .unwrap();
        assert_eq!(cfg.listen.to_string(), "127.0.0.1:7000", "CLI beats env");
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_values_are_explained() {
        let err = BootstrapConfig::load_from(
            None,
            &Overrides::default(),
            env(&[("SWITCHBOARD_LISTEN", "not-an-address")]),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("listen needs host:port"),
            "{err:#}"
        );
        let err = BootstrapConfig::load_from(
            Some(Path::new("/nonexistent/x.toml")),
            &Overrides::default(),
            env(&[]),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not exist"));
    }

    #[test]
    fn debug_hides_database_password() {
        let cfg = BootstrapConfig::load_from(
            None,
            &Overrides::default(),
            env(&[("SWITCHBOARD_DATABASE_URL", "postgres://sb:hunter2@db/sb")]),
        )
        .unwrap();
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("postgres://sb:***@db/sb"));
    }
}
