//! A software passkey authenticator for the server-side tests: an ES256 key (aws-lc-rs), `none`
//! attestation, the credential in `PublicKeyCredential.toJSON()` form, written from the WebAuthn
//! Level 3 specification and independent of the service's relying-party library. Every field a
//! refusal test needs to get wrong is a knob.

use aws_lc_rs::digest::{digest, SHA256};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING};
use base64::Engine as _;
use serde_cbor_2::Value as Cbor;
use serde_json::{json, Value};

const UP: u8 = 0x01;
const UV: u8 = 0x04;
const BE: u8 = 0x08;
const BS: u8 = 0x10;
const AT: u8 = 0x40;

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub fn unb64(s: &str) -> Vec<u8> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s)
        .expect("base64url")
}

pub struct SoftAuthenticator {
    key: EcdsaKeyPair,
    pub credential_id: Vec<u8>,
    /// The signature counter the next assertion carries (before incrementing).
    pub counter: u32,
    /// Set at creation from the options' `user.id`; returned in assertions.
    pub user_handle: Option<Vec<u8>>,
    /// Whether the authenticator says it verified the user.
    pub verifies_user: bool,
    /// The origin the "browser" writes into the client data.
    pub origin: String,
    /// The RP ID hashed into the authenticator data; `None`: the options' RP ID.
    pub rp_id: Option<String>,
    pub aaguid: [u8; 16],
}

impl SoftAuthenticator {
    pub fn new(origin: &str) -> Self {
        let key = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_ASN1_SIGNING).expect("key");
        let mut credential_id = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut credential_id).expect("random");
        Self {
            key,
            credential_id,
            counter: 0,
            user_handle: None,
            verifies_user: true,
            origin: origin.to_owned(),
            rp_id: None,
            aaguid: [0; 16],
        }
    }

    fn flags(&self) -> u8 {
        UP | BE | BS | if self.verifies_user { UV } else { 0 }
    }

    fn client_data(&self, kind: &str, challenge: &str) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": challenge,
            "origin": self.origin,
            "crossOrigin": false,
        }))
        .expect("json")
    }

    fn rp_id_hash(&self, options_rp_id: &str) -> Vec<u8> {
        let id = self.rp_id.as_deref().unwrap_or(options_rp_id);
        digest(&SHA256, id.as_bytes()).as_ref().to_vec()
    }

    /// `navigator.credentials.create({publicKey})` for the options' `publicKey`.
    pub fn create(&mut self, public_key: &Value) -> Value {
        let challenge = public_key["challenge"].as_str().expect("challenge");
        let rp_id = public_key["rp"]["id"].as_str().expect("rp.id");
        self.user_handle = Some(unb64(public_key["user"]["id"].as_str().expect("user.id")));
        let point = self.key.public_key().as_ref();
        assert_eq!(point.len(), 65, "uncompressed P-256 point");
        let cose = Cbor::Map(
            [
                (Cbor::Integer(1), Cbor::Integer(2)),  // kty: EC2
                (Cbor::Integer(3), Cbor::Integer(-7)), // alg: ES256
                (Cbor::Integer(-1), Cbor::Integer(1)), // crv: P-256
                (Cbor::Integer(-2), Cbor::Bytes(point[1..33].to_vec())),
                (Cbor::Integer(-3), Cbor::Bytes(point[33..65].to_vec())),
            ]
            .into_iter()
            .collect(),
        );
        let mut auth_data = self.rp_id_hash(rp_id);
        auth_data.push(self.flags() | AT);
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        auth_data.extend_from_slice(&self.aaguid);
        auth_data.extend_from_slice(
            &u16::try_from(self.credential_id.len())
                .unwrap()
                .to_be_bytes(),
        );
        auth_data.extend_from_slice(&self.credential_id);
        auth_data.extend(serde_cbor_2::to_vec(&cose).expect("cbor"));
        let attestation_object = Cbor::Map(
            [
                (Cbor::Text("fmt".into()), Cbor::Text("none".into())),
                (Cbor::Text("attStmt".into()), Cbor::Map(Default::default())),
                (Cbor::Text("authData".into()), Cbor::Bytes(auth_data)),
            ]
            .into_iter()
            .collect(),
        );
        self.credential_json(json!({
                "clientDataJSON": b64(&self.client_data("webauthn.create", challenge)),
                "attestationObject": b64(&serde_cbor_2::to_vec(&attestation_object).expect("cbor")),
                "transports": ["internal"],
        }))
    }

    /// `navigator.credentials.get({publicKey})`: signs the options' challenge. The counter goes
    /// up by one first, as a device's does.
    pub fn get(&mut self, public_key: &Value) -> Value {
        let challenge = public_key["challenge"]
            .as_str()
            .expect("challenge")
            .to_owned();
        self.get_for(public_key, &challenge)
    }

    /// [`Self::get`] signing `challenge` instead of the options' own.
    pub fn get_for(&mut self, public_key: &Value, challenge: &str) -> Value {
        let rp_id = public_key["rpId"].as_str().expect("rpId");
        self.counter += 1;
        let mut auth_data = self.rp_id_hash(rp_id);
        auth_data.push(self.flags());
        auth_data.extend_from_slice(&self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", challenge);
        let mut signed = auth_data.clone();
        signed.extend_from_slice(digest(&SHA256, &client_data).as_ref());
        let signature = self.key.sign(&SystemRandom::new(), &signed).expect("sign");
        self.credential_json(json!({
                "clientDataJSON": b64(&client_data),
                "authenticatorData": b64(&auth_data),
                "signature": b64(signature.as_ref()),
                "userHandle": self.user_handle.as_deref().map(b64),
        }))
    }

    /// `PublicKeyCredential.toJSON()` around a `response`.
    fn credential_json(&self, response: Value) -> Value {
        let id = b64(&self.credential_id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": response,
        })
    }
}
