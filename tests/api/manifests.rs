//! `deploy/kubernetes/*.yaml`: what a schema cannot see (kubernetes-validate checks the schema
//! in CI). Each file applies on its own, so everything it references is defined in it; every
//! probe reaches a port some container serves on the pod IP; every `AUTHGATE_*` name is a real
//! setting and the values pass authgate's own start-up checks; production settings, resources and
//! a restricted security context are there; selectors select the Deployment's pods.
//!
//! `problems` lists what is wrong with one file; the shipped files must have none, and
//! `each_manifest_check_catches_the_bug_it_is_for` breaks them the ways they were once broken.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use clap::CommandFactory as _;
use serde::Deserialize as _;
use serde_json::Value;

const FILES: [&str; 3] = ["standalone.yaml", "sidecar.yaml", "proxy-sidecar.yaml"];

fn shipped(name: &str) -> String {
    let path = format!("{}/deploy/kubernetes/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every env name of authgate's settings (clap's `env = "AUTHGATE_…"`), with its long flag.
fn settings_flags() -> BTreeMap<String, String> {
    authgate::cli::Cli::command()
        .get_arguments()
        .filter_map(|a| {
            let env = a.get_env()?.to_str()?.to_owned();
            Some((env, format!("--{}", a.get_long()?)))
        })
        .collect()
}

pub fn setting_names() -> BTreeSet<String> {
    settings_flags().into_keys().collect()
}

fn documents(text: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(text)
        .map(|doc| Value::deserialize(doc).expect("YAML document"))
        .filter(|v| !v.is_null())
        .collect()
}

fn kind(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn name(doc: &Value) -> &str {
    doc["metadata"]["name"].as_str().unwrap_or_default()
}

fn list(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// `(workload name, pod template)` of every workload.
fn pod_templates(docs: &[Value]) -> Vec<(String, &Value)> {
    docs.iter()
        .filter(|d| {
            matches!(
                kind(d),
                "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job"
            )
        })
        .map(|d| (name(d).to_owned(), &d["spec"]["template"]))
        .collect()
}

/// The literal env values of a container.
fn env(container: &Value) -> BTreeMap<String, String> {
    list(&container["env"])
        .iter()
        .filter_map(|e| {
            Some((
                e["name"].as_str()?.to_owned(),
                e["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

fn is_authgate(container: &Value) -> bool {
    container["image"]
        .as_str()
        .is_some_and(|i| i.starts_with("authgate") || i.contains("/authgate"))
}

/// The address a container listens on, as its env says: `AUTHGATE_LISTEN` for authgate, the
/// conventional `HOST`/`BIND`/`LISTEN` names otherwise.
fn listen_host(container: &Value) -> Option<String> {
    let env = env(container);
    if let Some(listen) = env.get("AUTHGATE_LISTEN") {
        return Some(
            listen
                .rsplit_once(':')
                .map_or(listen.as_str(), |(h, _)| h)
                .trim_matches(['[', ']'])
                .to_owned(),
        );
    }
    ["HOST", "BIND", "BIND_ADDRESS", "LISTEN", "LISTEN_ADDR"]
        .iter()
        .find_map(|k| env.get(*k).cloned())
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Secrets and ConfigMaps defined in the file: name → keys.
fn defined(docs: &[Value], which: &str) -> BTreeMap<String, BTreeSet<String>> {
    docs.iter()
        .filter(|d| kind(d) == which)
        .map(|d| {
            let keys = ["data", "stringData", "binaryData"]
                .iter()
                .filter_map(|f| d[*f].as_object())
                .flat_map(|m| m.keys().cloned())
                .collect();
            (name(d).to_owned(), keys)
        })
        .collect()
}

/// What is wrong with one manifest file; empty when nothing is.
fn problems(file: &str, text: &str) -> Vec<String> {
    let docs = documents(text);
    let mut out = Vec::new();
    let secrets = defined(&docs, "Secret");
    let config_maps = defined(&docs, "ConfigMap");
    let flags = settings_flags();
    let pods = pod_templates(&docs);
    if pods.is_empty() {
        out.push(format!("{file}: no workload"));
    }

    for (workload, pod) in &pods {
        let spec = &pod["spec"];
        let labels = pod["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let containers = list(&spec["containers"]);
        let volumes: BTreeMap<&str, &Value> = list(&spec["volumes"])
            .iter()
            .filter_map(|v| Some((v["name"].as_str()?, v)))
            .collect();

        // References: each file must apply on its own.
        let mut refer = |what: &str,
                         kind_map: &BTreeMap<String, BTreeSet<String>>,
                         r: &Value,
                         key: Option<&str>| {
            if r["optional"].as_bool() == Some(true) {
                return;
            }
            let n = r["name"]
                .as_str()
                .or(r["secretName"].as_str())
                .unwrap_or_default();
            match kind_map.get(n) {
                None => out.push(format!(
                    "{file}: {workload} references {what} `{n}`, which this file does not define"
                )),
                Some(keys) => {
                    if let Some(k) = key {
                        if !keys.contains(k) {
                            out.push(format!("{file}: {workload} references key `{k}` of {what} `{n}`, which has no such key"));
                        }
                    }
                }
            }
        };
        for v in volumes.values() {
            if v.get("secret").is_some() {
                refer("Secret", &secrets, &v["secret"], None);
            }
            if v.get("configMap").is_some() {
                refer("ConfigMap", &config_maps, &v["configMap"], None);
            }
        }
        for c in containers.iter().chain(list(&spec["initContainers"])) {
            for e in list(&c["env"]) {
                let from = &e["valueFrom"];
                if from.get("secretKeyRef").is_some() {
                    refer(
                        "Secret",
                        &secrets,
                        &from["secretKeyRef"],
                        from["secretKeyRef"]["key"].as_str(),
                    );
                }
                if from.get("configMapKeyRef").is_some() {
                    refer(
                        "ConfigMap",
                        &config_maps,
                        &from["configMapKeyRef"],
                        from["configMapKeyRef"]["key"].as_str(),
                    );
                }
            }
            for e in list(&c["envFrom"]) {
                if e.get("secretRef").is_some() {
                    refer("Secret", &secrets, &e["secretRef"], None);
                }
                if e.get("configMapRef").is_some() {
                    refer("ConfigMap", &config_maps, &e["configMapRef"], None);
                }
            }
        }

        let pod_sc = &spec["securityContext"];
        for c in containers {
            let cname = c["name"].as_str().unwrap_or_default();
            let at = format!("{file}: {workload}/{cname}");

            // Resources and the restricted security context (the container's own setting, else
            // the pod's, as the kubelet applies them).
            for path in [
                ["requests", "cpu"],
                ["requests", "memory"],
                ["limits", "memory"],
            ] {
                if c["resources"][path[0]][path[1]].is_null() {
                    out.push(format!("{at}: no resources.{}.{}", path[0], path[1]));
                }
            }
            let sc = &c["securityContext"];
            let effective = |field: &str| {
                if sc[field].is_null() {
                    &pod_sc[field]
                } else {
                    &sc[field]
                }
            };
            if effective("runAsNonRoot") != &Value::Bool(true) {
                out.push(format!("{at}: runAsNonRoot is not true"));
            }
            if sc["readOnlyRootFilesystem"] != Value::Bool(true) {
                out.push(format!("{at}: readOnlyRootFilesystem is not true"));
            }
            if sc["allowPrivilegeEscalation"] != Value::Bool(false) {
                out.push(format!("{at}: allowPrivilegeEscalation is not false"));
            }
            if !list(&sc["capabilities"]["drop"]).iter().any(|d| d == "ALL") {
                out.push(format!("{at}: capabilities do not drop ALL"));
            }
            if effective("seccompProfile")["type"] != "RuntimeDefault" {
                out.push(format!("{at}: seccompProfile is not RuntimeDefault"));
            }

            // Mounts name volumes of the pod.
            let mounts: Vec<(&str, &str)> = list(&c["volumeMounts"])
                .iter()
                .filter_map(|m| Some((m["name"].as_str()?, m["mountPath"].as_str()?)))
                .collect();
            for (v, _) in &mounts {
                if !volumes.contains_key(v) {
                    out.push(format!(
                        "{at}: mounts volume `{v}`, which the pod does not have"
                    ));
                }
            }
            let mounted = |path: &str| {
                mounts.iter().any(|(_, m)| {
                    let m = m.trim_end_matches('/');
                    path == m || path.strip_prefix(m).is_some_and(|r| r.starts_with('/'))
                })
            };

            // Probes reach a port some container serves on the pod IP.
            for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
                let p = &c[probe];
                if p.is_null() {
                    continue;
                }
                let handler = ["httpGet", "tcpSocket", "grpc"]
                    .iter()
                    .map(|h| &p[*h])
                    .find(|h| !h.is_null());
                let Some(handler) = handler else { continue };
                let port = &handler["port"];
                let ports_of = |c: &Value| list(&c["ports"]).to_vec();
                let target = if let Some(named) = port.as_str() {
                    // A named port is looked up in the probed container's own ports.
                    ports_of(c).iter().any(|p| p["name"] == named).then_some(c)
                } else {
                    containers
                        .iter()
                        .find(|o| ports_of(o).iter().any(|p| &p["containerPort"] == port))
                };
                let Some(target) = target else {
                    out.push(format!("{at}: {probe} port {port} is not a containerPort (of this container, for a name)"));
                    continue;
                };
                let tname = target["name"].as_str().unwrap_or_default();
                match listen_host(target) {
                    Some(h) if is_loopback(&h) => out.push(format!(
                        "{at}: {probe} probes `{tname}`, which listens on {h}: the kubelet probes the pod IP"
                    )),
                    Some(_) => {}
                    None => out.push(format!("{at}: {probe} probes `{tname}`, whose listen address its env does not say")),
                }
                let tenv = env(target);
                let port_number = port.as_u64().or_else(|| {
                    list(&target["ports"])
                        .iter()
                        .find(|p| p["name"] == *port)
                        .and_then(|p| p["containerPort"].as_u64())
                });
                if let (Some(listen), Some(n)) = (tenv.get("AUTHGATE_LISTEN"), port_number) {
                    if !listen.ends_with(&format!(":{n}")) {
                        out.push(format!(
                            "{at}: {probe} probes port {n}, authgate listens on {listen}"
                        ));
                    }
                }
                if is_authgate(target) {
                    let path = handler["path"].as_str().unwrap_or_default();
                    let own = std::ptr::eq(target, c);
                    if own && probe == "readinessProbe" && path != "/readyz?exclude=database" {
                        out.push(format!("{at}: readinessProbe is `{path}`, not /readyz?exclude=database (token checks work while the database is down)"));
                    }
                    if own && probe == "livenessProbe" && path != "/healthz" {
                        out.push(format!("{at}: livenessProbe is `{path}`, not /healthz"));
                    }
                    let bare = path.split('?').next().unwrap_or_default();
                    if tenv.contains_key("AUTHGATE_UPSTREAM") && !authgate::paths::is_own_path(bare)
                    {
                        let public = public_paths(&tenv);
                        if !authgate::paths::rules::is_public(&public, bare) {
                            out.push(format!("{at}: {probe} path `{bare}` goes to the upstream but is not in AUTHGATE_PUBLIC_PATHS: 401"));
                        }
                    }
                }
            }

            if !is_authgate(c) {
                continue;
            }
            let cenv = env(c);

            // Every AUTHGATE_* name is a setting: in env, and in the Secrets loaded whole.
            let mut names: Vec<String> = list(&c["env"])
                .iter()
                .filter_map(|e| e["name"].as_str().map(str::to_owned))
                .collect();
            for e in list(&c["envFrom"]) {
                if let Some(keys) = e["secretRef"]["name"].as_str().and_then(|n| secrets.get(n)) {
                    names.extend(keys.iter().cloned());
                }
                if let Some(keys) = e["configMapRef"]["name"]
                    .as_str()
                    .and_then(|n| config_maps.get(n))
                {
                    names.extend(keys.iter().cloned());
                }
            }
            for n in names.iter().filter(|n| n.starts_with("AUTHGATE_")) {
                if !flags.contains_key(n) {
                    out.push(format!("{at}: {n} is not a setting of authgate"));
                }
            }

            // The values parse and pass authgate's start-up checks (secret placeholders left out).
            // Settings are flags of `authgate` itself, before the subcommand.
            let mut args = vec!["authgate".to_owned()];
            let mut values = cenv.clone();
            for e in list(&c["env"]) {
                let r = &e["valueFrom"]["secretKeyRef"];
                if let (Some(n), Some(secret), Some(key)) =
                    (e["name"].as_str(), r["name"].as_str(), r["key"].as_str())
                {
                    if let Some(v) = secret_value(&docs, secret, key) {
                        values.insert(n.to_owned(), v);
                    }
                }
            }
            for e in list(&c["envFrom"]) {
                if let Some(secret) = e["secretRef"]["name"].as_str() {
                    for key in secrets.get(secret).into_iter().flatten() {
                        if let Some(v) = secret_value(&docs, secret, key) {
                            values.insert(key.clone(), v);
                        }
                    }
                }
            }
            for (k, v) in &values {
                if let Some(flag) = flags.get(k) {
                    args.push(format!("{flag}={v}"));
                }
            }
            args.push("serve".to_owned());
            match <authgate::cli::Cli as clap::Parser>::try_parse_from(&args) {
                Err(e) => out.push(format!("{at}: the settings do not parse: {e}")),
                Ok(cli) => {
                    if let Err(e) = cli.settings.check() {
                        out.push(format!("{at}: authgate refuses to start: {e}"));
                    }
                }
            }

            // Proxy mode: the login page is public, or it redirects to itself.
            if let (Some(_), Some(login)) = (
                cenv.get("AUTHGATE_UPSTREAM"),
                cenv.get("AUTHGATE_LOGIN_URL"),
            ) {
                let public_url = cenv
                    .get("AUTHGATE_PUBLIC_URL")
                    .map(String::as_str)
                    .unwrap_or_default();
                let path = login
                    .strip_prefix(public_url.trim_end_matches('/'))
                    .unwrap_or(login);
                let path = path
                    .split('?')
                    .next()
                    .filter(|p| !p.is_empty())
                    .unwrap_or("/");
                if path.starts_with('/')
                    && !authgate::paths::is_own_path(path)
                    && !authgate::paths::rules::is_public(&public_paths(&cenv), path)
                {
                    out.push(format!("{at}: AUTHGATE_LOGIN_URL's path `{path}` is not in AUTHGATE_PUBLIC_PATHS: the login page redirects to itself"));
                }
            }

            // Production settings under Kubernetes.
            for (n, why) in [
                ("AUTHGATE_SHUTDOWN_DELAY", "readiness turns 503 on SIGTERM; without a delay the pod stops before the endpoints know"),
                ("AUTHGATE_METRICS_LISTEN", "/metrics stays on the public port"),
                ("AUTHGATE_PUBLIC_URL", "tokens name http://localhost:8080 as their issuer"),
                ("AUTHGATE_TRUSTED_PROXIES", "every client shares the ingress's address"),
            ] {
                if !cenv.contains_key(n) {
                    out.push(format!("{at}: no {n}: {why}"));
                }
            }
            if cenv.get("AUTHGATE_LOG_FORMAT").map(String::as_str) != Some("json") {
                out.push(format!("{at}: AUTHGATE_LOG_FORMAT is not json"));
            }
            let duration = |n: &str, default: &str| {
                humantime::parse_duration(cenv.get(n).map_or(default, String::as_str))
                    .unwrap_or(Duration::ZERO)
            };
            let delay = duration("AUTHGATE_SHUTDOWN_DELAY", "0s");
            if delay.is_zero() {
                out.push(format!("{at}: AUTHGATE_SHUTDOWN_DELAY is zero"));
            }
            let drain = delay + duration("AUTHGATE_SHUTDOWN_TIMEOUT", "25s");
            let grace =
                Duration::from_secs(spec["terminationGracePeriodSeconds"].as_u64().unwrap_or(30));
            if grace <= drain {
                out.push(format!("{at}: terminationGracePeriodSeconds {grace:?} is not above the shutdown delay plus timeout {drain:?}"));
            }
            if let Some(metrics) = cenv.get("AUTHGATE_METRICS_LISTEN") {
                let port = metrics
                    .rsplit(':')
                    .next()
                    .and_then(|p| p.parse::<u64>().ok());
                if !list(&c["ports"])
                    .iter()
                    .any(|p| p["containerPort"].as_u64() == port)
                {
                    out.push(format!(
                        "{at}: AUTHGATE_METRICS_LISTEN {metrics} is not a containerPort"
                    ));
                }
            }

            // What authgate writes is on a volume (the root filesystem is read-only).
            let database = database_url(&docs, c).unwrap_or_else(|| "sqlite://authgate.db".into());
            if let Some(file) = database.strip_prefix("sqlite://") {
                let dir = std::path::Path::new(file)
                    .parent()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default();
                if !file.starts_with('/') || !mounted(&dir) {
                    out.push(format!(
                        "{at}: the SQLite file {file} is not on a mounted volume"
                    ));
                }
            }
            if let Some(dir) = cenv.get("AUTHGATE_MAIL_TEMPLATES_DIR") {
                if !mounted(dir) {
                    out.push(format!(
                        "{at}: AUTHGATE_MAIL_TEMPLATES_DIR {dir} is not a mounted volume"
                    ));
                }
            }
        }

        // Services, the PDB and the NetworkPolicy select these pods and name their ports.
        let selects = |selector: &Value| {
            selector
                .as_object()
                .is_some_and(|m| !m.is_empty() && m.iter().all(|(k, v)| labels.get(k) == Some(v)))
        };
        let port_names: BTreeSet<&str> = containers
            .iter()
            .flat_map(|c| list(&c["ports"]))
            .filter_map(|p| p["name"].as_str())
            .collect();
        let port_numbers: BTreeSet<u64> = containers
            .iter()
            .flat_map(|c| list(&c["ports"]))
            .filter_map(|p| p["containerPort"].as_u64())
            .collect();
        let port_known = |p: &Value| {
            p.as_str().is_some_and(|n| port_names.contains(n))
                || p.as_u64().is_some_and(|n| port_numbers.contains(&n))
        };
        for svc in docs.iter().filter(|d| kind(d) == "Service") {
            if !selects(&svc["spec"]["selector"]) {
                continue;
            }
            for p in list(&svc["spec"]["ports"]) {
                if !port_known(&p["targetPort"]) {
                    out.push(format!(
                        "{file}: Service {} targets port {}, which no container of {workload} has",
                        name(svc),
                        p["targetPort"]
                    ));
                }
            }
        }
        for policy in docs.iter().filter(|d| kind(d) == "NetworkPolicy") {
            for rule in list(&policy["spec"]["ingress"]) {
                for p in list(&rule["ports"]) {
                    if !port_known(&p["port"]) {
                        out.push(format!("{file}: NetworkPolicy {} admits port {}, which no container of {workload} has", name(policy), p["port"]));
                    }
                }
            }
        }
        if file == "standalone.yaml" {
            for k in ["PodDisruptionBudget", "NetworkPolicy"] {
                let found: Vec<&Value> = docs.iter().filter(|d| kind(d) == k).collect();
                if found.is_empty() {
                    out.push(format!("{file}: no {k}"));
                }
                for d in found {
                    let selector = if k == "NetworkPolicy" {
                        &d["spec"]["podSelector"]["matchLabels"]
                    } else {
                        &d["spec"]["selector"]["matchLabels"]
                    };
                    if !selects(selector) {
                        out.push(format!("{file}: the {k} {} selects {selector}, not {workload}'s pods ({labels:?})", name(d)));
                    }
                }
            }
        }
    }
    out
}

fn public_paths(env: &BTreeMap<String, String>) -> Vec<authgate::paths::PathPattern> {
    env.get("AUTHGATE_PUBLIC_PATHS")
        .map(String::as_str)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter_map(|p| authgate::paths::PathPattern::parse(p).ok())
        .collect()
}

/// A container's `AUTHGATE_DATABASE_URL`, placeholders and all: literal, or from a Secret.
fn database_url(docs: &[Value], container: &Value) -> Option<String> {
    const NAME: &str = "AUTHGATE_DATABASE_URL";
    let stored = |secret: &str, key: &str| {
        docs.iter()
            .find(|d| kind(d) == "Secret" && name(d) == secret)
            .and_then(|d| d["stringData"][key].as_str().map(str::to_owned))
    };
    if let Some(e) = list(&container["env"]).iter().find(|e| e["name"] == NAME) {
        if let Some(v) = e["value"].as_str() {
            return Some(v.to_owned());
        }
        let r = &e["valueFrom"]["secretKeyRef"];
        return stored(r["name"].as_str()?, r["key"].as_str()?);
    }
    list(&container["envFrom"])
        .iter()
        .filter_map(|e| e["secretRef"]["name"].as_str())
        .find_map(|secret| stored(secret, NAME))
}

/// A Secret's value, unless it is a placeholder to replace before applying.
fn secret_value(docs: &[Value], secret: &str, key: &str) -> Option<String> {
    let doc = docs
        .iter()
        .find(|d| kind(d) == "Secret" && name(d) == secret)?;
    let value = doc["stringData"][key].as_str()?;
    (!value.contains("CHANGE-ME")).then(|| value.to_owned())
}

#[test]
fn every_shipped_manifest_passes_the_checks_a_schema_cannot_make() {
    let mut all = Vec::new();
    for file in FILES {
        all.extend(problems(file, &shipped(file)));
    }
    assert!(all.is_empty(), "{all:#?}");
}

#[test]
fn the_shipped_manifests_are_all_the_files_there_are() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/kubernetes");
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    found.sort();
    let mut expected: Vec<String> = FILES.iter().map(|f| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(
        found, expected,
        "a new manifest must be added to FILES to be checked"
    );
}

/// `text` with `from` replaced by `to`, asserting it occurred.
fn broken(file: &str, from: &str, to: &str) -> String {
    let text = shipped(file);
    assert!(
        text.contains(from),
        "{file} no longer contains {from:?}: update this test"
    );
    text.replacen(from, to, 1)
}

/// Drops the YAML document of `kind`.
fn without_document(file: &str, doc_kind: &str) -> String {
    let text = shipped(file);
    let docs: Vec<&str> = text.split("\n---\n").collect();
    let kept: Vec<&str> = docs
        .iter()
        .copied()
        .filter(|d| !d.lines().any(|l| l == format!("kind: {doc_kind}")))
        .collect();
    assert_eq!(kept.len() + 1, docs.len(), "{file} has one {doc_kind}");
    kept.join("\n---\n")
}

#[test]
fn each_manifest_check_catches_the_bug_it_is_for() {
    let cases: Vec<(&str, String, &str)> = vec![
        // The login page not public: proxy mode redirects it to itself.
        (
            "proxy-sidecar.yaml",
            broken("proxy-sidecar.yaml", "/,/login,/signup,", "/,/signup,"),
            "AUTHGATE_LOGIN_URL's path `/login` is not in AUTHGATE_PUBLIC_PATHS",
        ),
        // The loopback-only app probed on its own port: never Ready.
        (
            "proxy-sidecar.yaml",
            broken("proxy-sidecar.yaml", "httpGet: {path: /, port: 8080}", "tcpSocket: {port: 3000}"),
            "readinessProbe port 3000 is not a containerPort",
        ),
        (
            "proxy-sidecar.yaml",
            broken(
                "proxy-sidecar.yaml",
                "httpGet: {path: /, port: 8080}\n            periodSeconds: 5",
                "tcpSocket: {port: 3000}\n            periodSeconds: 5\n          ports:\n            - {containerPort: 3000}",
            ),
            "which listens on 127.0.0.1: the kubelet probes the pod IP",
        ),
        (
            "standalone.yaml",
            broken("standalone.yaml", "AUTHGATE_LISTEN, value: \"0.0.0.0:8080\"", "AUTHGATE_LISTEN, value: \"127.0.0.1:8080\""),
            "which listens on 127.0.0.1",
        ),
        // The app's probe through authgate on a path that needs a token: 401 forever.
        (
            "proxy-sidecar.yaml",
            broken("proxy-sidecar.yaml", "httpGet: {path: /, port: 8080}", "httpGet: {path: /dashboard, port: 8080}"),
            "path `/dashboard` goes to the upstream but is not in AUTHGATE_PUBLIC_PATHS",
        ),
        // A Secret only another file defines.
        ("sidecar.yaml", without_document("sidecar.yaml", "Secret"), "references Secret `app-authgate`, which this file does not define"),
        ("proxy-sidecar.yaml", without_document("proxy-sidecar.yaml", "Secret"), "which this file does not define"),
        ("standalone.yaml", without_document("standalone.yaml", "Secret"), "references Secret `authgate`"),
        (
            "sidecar.yaml",
            broken("sidecar.yaml", "key: AUTHGATE_PASSWORD_PEPPER}", "key: PEPPER}"),
            "references key `PEPPER` of Secret `app-authgate`",
        ),
        // Production settings.
        (
            "standalone.yaml",
            broken("standalone.yaml", "- {name: AUTHGATE_SHUTDOWN_DELAY, value: \"5s\"}", ""),
            "no AUTHGATE_SHUTDOWN_DELAY",
        ),
        (
            "standalone.yaml",
            broken("standalone.yaml", "- {name: AUTHGATE_METRICS_LISTEN, value: \"0.0.0.0:9090\"}", ""),
            "no AUTHGATE_METRICS_LISTEN",
        ),
        ("standalone.yaml", broken("standalone.yaml", "terminationGracePeriodSeconds: 40", "terminationGracePeriodSeconds: 30"), "terminationGracePeriodSeconds"),
        // Readiness that drops every pod during a database outage.
        (
            "standalone.yaml",
            broken("standalone.yaml", "path: \"/readyz?exclude=database\"", "path: /readyz"),
            "not /readyz?exclude=database",
        ),
        // Names that are not settings, values authgate refuses.
        ("standalone.yaml", broken("standalone.yaml", "AUTHGATE_SHUTDOWN_DELAY,", "AUTHGATE_SHUTDOWN_GRACE,"), "AUTHGATE_SHUTDOWN_GRACE is not a setting"),
        ("standalone.yaml", broken("standalone.yaml", "AUTHGATE_DATABASE_URL:", "AUTHGATE_DB_URL:"), "AUTHGATE_DB_URL is not a setting"),
        ("sidecar.yaml", broken("sidecar.yaml", "value: \"5s\"}", "value: \"5 parsecs\"}"), "the settings do not parse"),
        // Resources and the security context.
        ("sidecar.yaml", broken("sidecar.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFilesystem: false"), "app: readOnlyRootFilesystem is not true"),
        ("sidecar.yaml", broken("sidecar.yaml", "capabilities: {drop: [\"ALL\"]}", "capabilities: {drop: [\"NET_RAW\"]}"), "capabilities do not drop ALL"),
        ("standalone.yaml", broken("standalone.yaml", "allowPrivilegeEscalation: false", "allowPrivilegeEscalation: true"), "allowPrivilegeEscalation is not false"),
        ("standalone.yaml", broken("standalone.yaml", "limits: {cpu: \"1\", memory: 128Mi}", "limits: {cpu: \"1\"}"), "no resources.limits.memory"),
        (
            "standalone.yaml",
            broken("standalone.yaml", "seccompProfile: {type: RuntimeDefault}\n      containers", "seccompProfile: {type: Unconfined}\n      containers")
                .replacen("            seccompProfile: {type: RuntimeDefault}\n", "", 1),
            "seccompProfile is not RuntimeDefault",
        ),
        // The SQLite file on the read-only root filesystem.
        ("sidecar.yaml", broken("sidecar.yaml", "mountPath: /data}", "mountPath: /var/lib/authgate}"), "the SQLite file /data/authgate.db is not on a mounted volume"),
        // The PDB and NetworkPolicy of standalone.
        ("standalone.yaml", without_document("standalone.yaml", "PodDisruptionBudget"), "no PodDisruptionBudget"),
        ("standalone.yaml", without_document("standalone.yaml", "NetworkPolicy"), "no NetworkPolicy"),
        (
            "standalone.yaml",
            broken("standalone.yaml", "  podSelector:\n    matchLabels: {app: authgate}", "  podSelector:\n    matchLabels: {app: auth}"),
            "the NetworkPolicy authgate selects",
        ),
        (
            "standalone.yaml",
            broken("standalone.yaml", "  minAvailable: 1\n  selector:\n    matchLabels: {app: authgate}", "  minAvailable: 1\n  selector:\n    matchLabels: {app: authgate-db}"),
            "the PodDisruptionBudget authgate selects",
        ),
        ("standalone.yaml", broken("standalone.yaml", "{protocol: TCP, port: metrics}", "{protocol: TCP, port: prometheus}"), "admits port \"prometheus\""),
    ];
    for (file, text, expected) in cases {
        let found = problems(file, &text);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{file} broken for `{expected}` was not caught; problems: {found:#?}"
        );
    }
}
