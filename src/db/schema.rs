// @generated automatically by Diesel CLI.

diesel::table! {
    auth_events (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        kind -> Text,
        outcome -> Text,
        method -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        session_id -> Nullable<Text>,
        created_at -> Timestamp,
        actor -> Nullable<Text>,
    }
}

diesel::table! {
    admin_keys (id) {
        id -> Text,
        name -> Text,
        scope -> Text,
        key_hash -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    identities (id) {
        id -> Text,
        user_id -> Text,
        provider -> Text,
        subject -> Text,
        email -> Nullable<Text>,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    invite_codes (code_hash) {
        code_hash -> Text,
        max_uses -> Integer,
        uses -> Integer,
        expires_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    one_time_codes (id) {
        id -> Text,
        user_id -> Text,
        purpose -> Text,
        code_hash -> Text,
        target -> Nullable<Text>,
        attempts -> Integer,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        consumed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oauth_flows (id) {
        id -> Text,
        provider -> Text,
        purpose -> Text,
        user_id -> Nullable<Text>,
        binding -> Text,
        payload -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        kind -> Text,
        recipient -> Text,
        subject -> Text,
        body_text -> Binary,
        body_html -> Nullable<Binary>,
        status -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        purpose -> Nullable<Text>,
    }
}

diesel::table! {
    session_tombstones (id) {
        id -> Text,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Text,
        secret -> Binary,
        counter -> BigInt,
        rotated_at -> Timestamp,
        created_at -> Timestamp,
        last_used_at -> Timestamp,
        expires_at -> Timestamp,
        remember_me -> Bool,
        amr -> Text,
        aal -> Text,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        revoked_at -> Nullable<Timestamp>,
        revoked_reason -> Nullable<Text>,
    }
}

diesel::table! {
    signin_throttle (login_key) {
        login_key -> Text,
        failures -> Integer,
        locked_until -> Nullable<Timestamp>,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        private_key -> Binary,
        public_jwk -> Text,
        created_at -> Timestamp,
        activates_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
        expires_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    user_roles (user_id, role) {
        user_id -> Text,
        role -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        email_verified -> Bool,
        password_hash -> Text,
        name -> Text,
        avatar -> Nullable<Text>,
        phone -> Nullable<Text>,
        contact_type -> Nullable<Text>,
        contact_value -> Nullable<Text>,
        disabled -> Bool,
        created_at -> Timestamp,
        updated_at -> Timestamp,
        last_sign_in_at -> Nullable<Timestamp>,
        totp_secret -> Nullable<Binary>,
        totp_pending -> Nullable<Binary>,
        totp_last_step -> Nullable<BigInt>,
        totp_failures -> Integer,
        totp_locked_until -> Nullable<Timestamp>,
        has_password -> Bool,
    }
}

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Text,
        credential -> Text,
        name -> Text,
        aaguid -> Text,
        backed_up -> Bool,
        user_verified -> Bool,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    recovery_codes (id) {
        id -> Text,
        user_id -> Text,
        code_hash -> Text,
        created_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    webauthn_challenges (id) {
        id -> Text,
        purpose -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(auth_events -> users (user_id));
diesel::joinable!(identities -> users (user_id));
diesel::joinable!(oauth_flows -> users (user_id));
diesel::joinable!(passkeys -> users (user_id));
diesel::joinable!(one_time_codes -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(user_roles -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    admin_keys,
    auth_events,
    identities,
    invite_codes,
    oauth_flows,
    one_time_codes,
    outbox,
    passkeys,
    recovery_codes,
    session_tombstones,
    sessions,
    signin_throttle,
    signing_keys,
    user_roles,
    users,
    webauthn_challenges,
);
