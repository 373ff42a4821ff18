//! Shared test harness: an emulator on an ephemeral port, real RSA certificates, and signed
//! client assertions.

use std::sync::LazyLock;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use graph_emulator::{EmulatorConfig, RunningEmulator};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// A self-signed RSA-2048 certificate and its private key.
pub struct Identity {
    pub cert_pem: String,
    pub cert_der: Vec<u8>,
    pub key_pem: String,
}

impl Identity {
    fn generate() -> Identity {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_RSA_SHA256).expect("RSA key");
        let cert = rcgen::CertificateParams::new(vec![])
            .expect("params")
            .self_signed(&kp)
            .expect("self-signed certificate");
        Identity {
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: kp.serialize_pem(),
        }
    }

    pub fn sha1(&self) -> Vec<u8> {
        digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &self.cert_der)
            .as_ref()
            .to_vec()
    }

    pub fn sha256(&self) -> Vec<u8> {
        digest::digest(&digest::SHA256, &self.cert_der)
            .as_ref()
            .to_vec()
    }

    pub fn sha1_hex(&self) -> String {
        self.sha1().iter().map(|b| format!("{b:02X}")).collect()
    }
}

// RSA key generation is slow in debug builds: two identities serve every test.
pub static ALICE: LazyLock<Identity> = LazyLock::new(Identity::generate);
pub static MALLORY: LazyLock<Identity> = LazyLock::new(Identity::generate);

#[derive(Clone, Copy, Debug)]
pub enum Thumb {
    X5t,
    X5tS256,
}

/// Everything that goes into a client assertion; `Assertion::new` gives a valid one.
#[derive(Clone, Debug)]
pub struct Assertion {
    pub alg: Algorithm,
    pub thumb: Thumb,
    pub padded: bool,
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub nbf: Option<i64>,
    pub exp: i64,
    pub jti: Option<String>,
}

impl Assertion {
    pub fn new(emu: &Emu, app_id: &str) -> Assertion {
        let now = jiff::Timestamp::now().as_second();
        Assertion {
            alg: Algorithm::RS256,
            thumb: Thumb::X5t,
            padded: false,
            iss: app_id.to_owned(),
            sub: app_id.to_owned(),
            aud: format!("{}/{}/oauth2/v2.0/token", emu.base, emu.tenant),
            nbf: Some(now),
            exp: now + 600,
            jti: Some(uuid::Uuid::new_v4().to_string()),
        }
    }

    /// Signs with `key`'s private key, naming `thumb_of`'s certificate in the header.
    pub fn sign_as(&self, key: &Identity, thumb_of: &Identity) -> String {
        let mut header = Header::new(self.alg);
        let (engine_bytes, field) = match self.thumb {
            Thumb::X5t => (thumb_of.sha1(), &mut header.x5t),
            Thumb::X5tS256 => (thumb_of.sha256(), &mut header.x5t_s256),
        };
        *field = Some(if self.padded {
            URL_SAFE.encode(engine_bytes)
        } else {
            URL_SAFE_NO_PAD.encode(engine_bytes)
        });
        let mut claims = json!({
            "aud": self.aud, "iss": self.iss, "sub": self.sub,
            "exp": self.exp, "iat": self.nbf.unwrap_or(self.exp - 600),
        });
        if let Some(nbf) = self.nbf {
            claims["nbf"] = json!(nbf);
        }
        if let Some(jti) = &self.jti {
            claims["jti"] = json!(jti);
        }
        let key = EncodingKey::from_rsa_pem(key.key_pem.as_bytes()).expect("RSA private key");
        jsonwebtoken::encode(&header, &claims, &key).expect("sign assertion")
    }

    pub fn sign(&self, identity: &Identity) -> String {
        self.sign_as(identity, identity)
    }
}

pub struct Emu {
    pub emu: RunningEmulator,
    pub base: String,
    pub tenant: String,
    pub http: reqwest::Client,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    async fn from(r: reqwest::Response) -> Reply {
        Reply {
            status: r.status(),
            headers: r.headers().clone(),
            text: r.text().await.expect("body"),
        }
    }
}

pub async fn start() -> Emu {
    let emu = RunningEmulator::start(EmulatorConfig {
        seed: 7,
        ..EmulatorConfig::default()
    })
    .await
    .expect("emulator starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Emu {
        base: emu.base_url(),
        tenant: emu.tenant_id().to_owned(),
        emu,
        http,
    }
}

impl Emu {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> Reply {
        Reply::from(self.http.get(self.url(path)).send().await.expect("GET")).await
    }

    pub async fn get_with(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().await.expect("GET")).await
    }

    pub async fn send_json(&self, method: reqwest::Method, path: &str, body: Value) -> Reply {
        let r = self
            .http
            .request(method, self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request");
        Reply::from(r).await
    }

    pub async fn post_json(&self, path: &str, body: Value) -> Reply {
        self.send_json(reqwest::Method::POST, path, body).await
    }

    /// Registers an app with ALICE's certificate; returns the appId.
    pub async fn app(&self, roles: &[&str], consent: bool) -> String {
        let r = self
            .post_json(
                "/_emulator/apps",
                json!({
                    "displayName": "Switchboard test",
                    "redirectUris": ["http://127.0.0.1:5001/oauth2office2"],
                    "certificates": [ALICE.cert_pem],
                    "roles": roles,
                    "consentGranted": consent,
                }),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["appId"].as_str().expect("appId").to_owned()
    }

    pub async fn token_form(&self, tenant: &str, form: &[(&str, &str)]) -> Reply {
        let r = self
            .http
            .post(self.url(&format!("/{tenant}/oauth2/v2.0/token")))
            .form(form)
            .send()
            .await
            .expect("token request");
        Reply::from(r).await
    }

    /// A token request with a complete, valid form around `assertion`.
    pub async fn token_with(&self, app_id: &str, assertion: &str) -> Reply {
        self.token_form(
            &self.tenant,
            &[
                ("client_id", app_id),
                ("scope", GRAPH_DEFAULT),
                ("client_assertion_type", JWT_BEARER),
                ("client_assertion", assertion),
                ("grant_type", "client_credentials"),
            ],
        )
        .await
    }

    /// A fresh access token for `app_id` (ALICE's key), asserting success.
    pub async fn access_token(&self, app_id: &str) -> String {
        let r = self
            .token_with(app_id, &Assertion::new(self, app_id).sign(&ALICE))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()["access_token"].as_str().expect("token").to_owned()
    }

    pub async fn advance_clock(&self, seconds: i64) {
        let r = self
            .post_json("/_emulator/clock", json!({ "advance_seconds": seconds }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
}

/// Decodes a JWT payload without verifying it.
pub fn jwt_claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
}

/// Asserts the §1.4 Entra error shape and returns the body.
pub fn assert_entra_error(r: &Reply, status: StatusCode, error: &str, code: u64) -> Value {
    assert_eq!(r.status, status, "{}", r.text);
    let body = r.json();
    assert_eq!(body["error"], error, "{}", r.text);
    assert_eq!(body["error_codes"], json!([code]), "{}", r.text);
    let description = body["error_description"].as_str().expect("description");
    assert!(
        description.starts_with(&format!("AADSTS{code}: ")),
        "{description}"
    );
    body
}

/// Roles that read users and groups.
pub const READER_ROLES: &[&str] = &["User.Read.All", "GroupMember.Read.All"];

/// An emulator (seed 7) with `users` generated users.
pub async fn start_users(users: usize) -> Emu {
    start_config(EmulatorConfig {
        seed: 7,
        users,
        ..EmulatorConfig::default()
    })
    .await
}

pub async fn start_config(config: EmulatorConfig) -> Emu {
    let emu = RunningEmulator::start(config)
        .await
        .expect("emulator starts");
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    Emu {
        base: emu.base_url(),
        tenant: emu.tenant_id().to_owned(),
        emu,
        http,
    }
}

impl Emu {
    /// A token for a consented app holding [`READER_ROLES`].
    pub async fn reader(&self) -> String {
        let app = self.app(READER_ROLES, true).await;
        self.access_token(&app).await
    }

    /// GET an absolute URL (a nextLink, deltaLink or Location) with a token.
    pub async fn follow(&self, url: &str, token: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.http.get(url).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().await.expect("GET")).await
    }

    /// Walks a collection from `path` through every nextLink; returns the pages' bodies.
    pub async fn walk(&self, path: &str, token: &str, headers: &[(&str, &str)]) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut url = self.url(path);
        loop {
            let r = self.follow(&url, token, headers).await;
            assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
            let body = r.json();
            let next = body["@odata.nextLink"].as_str().map(str::to_owned);
            pages.push(body);
            match next {
                Some(n) => {
                    assert!(
                        n.starts_with(&self.base),
                        "absolute link on the emulator: {n}"
                    );
                    url = n;
                }
                None => return pages,
            }
        }
    }

    pub async fn patch_json(&self, path: &str, body: Value) -> Reply {
        self.send_json(reqwest::Method::PATCH, path, body).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        let r = self
            .http
            .delete(self.url(path))
            .send()
            .await
            .expect("DELETE");
        Reply::from(r).await
    }

    /// Creates a user through the control API; returns its id.
    pub async fn create_user(&self, body: Value) -> String {
        let r = self.post_json("/_emulator/users", body).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["id"].as_str().expect("id").to_owned()
    }
}

/// All `value` items of a walk.
pub fn items(pages: &[Value]) -> Vec<Value> {
    pages
        .iter()
        .flat_map(|p| p["value"].as_array().cloned().unwrap_or_default())
        .collect()
}

/// Asserts a Graph error's status, code and message.
pub fn assert_error(r: &Reply, status: StatusCode, code: &str, message: &str) {
    assert_eq!(r.status, status, "{}", r.text);
    let body = r.json();
    assert_eq!(body["error"]["code"], code, "{}", r.text);
    assert_eq!(body["error"]["message"], message, "{}", r.text);
    assert!(
        body["error"]["innerError"]["request-id"].is_string(),
        "{}",
        r.text
    );
}

impl Emu {
    /// Like [`Emu::reader`] after the emulator clock moved `offset` seconds ahead of the wall
    /// clock: the client assertion has to be dated in emulator time.
    pub async fn reader_after(&self, offset: i64) -> String {
        let app = self.app(READER_ROLES, true).await;
        let mut assertion = Assertion::new(self, &app);
        assertion.nbf = assertion.nbf.map(|n| n + offset);
        assertion.exp += offset;
        let r = self.token_with(&app, &assertion.sign(&ALICE)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json()["access_token"].as_str().expect("token").to_owned()
    }
}

/// Roles of an app that reads contacts (and users, to find them).
pub const CONTACT_ROLES: &[&str] = &["Contacts.Read", "User.Read.All"];

impl Emu {
    /// A token for a consented app holding [`CONTACT_ROLES`].
    pub async fn contacts_reader(&self) -> String {
        let app = self.app(CONTACT_ROLES, true).await;
        self.access_token(&app).await
    }

    /// A Graph request with a token and an optional JSON body.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(token);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    /// Creates a contact through the control API; returns the created contact.
    pub async fn create_contact(&self, user: &str, body: Value) -> Value {
        let r = self
            .post_json(&format!("/_emulator/users/{user}/contacts"), body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()
    }

    /// Creates a contact folder through the control API; returns its id.
    pub async fn create_folder(&self, user: &str, name: &str, parent: Option<&str>) -> String {
        let mut body = json!({ "displayName": name });
        if let Some(p) = parent {
            body["parentFolderId"] = json!(p);
        }
        let r = self
            .post_json(&format!("/_emulator/users/{user}/contactFolders"), body)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        r.json()["id"].as_str().expect("folder id").to_owned()
    }
}

/// The `id`s of a list of items.
pub fn ids(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().expect("id").to_owned())
        .collect()
}
