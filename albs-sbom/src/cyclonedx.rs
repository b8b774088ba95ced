//! CycloneDX 1.5 documents, JSON and XML.
//!
//! Written with serde_json and by hand rather than through the
//! `cyclonedx-bom` crate: the documents are small and fixed in shape, the
//! crate's `validate()` does not check the JSON schema anyway (the tests run
//! cyclonedx-python-lib's strict validator instead), and it would bring a
//! second XML stack next to quick-xml.

use std::fmt::Write as _;

use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::component::Component;
use crate::{Subject, rfc3339, serial_number};

fn component_json(c: &Component) -> Value {
    let mut v = json!({
        "type": "library",
        "bom-ref": c.purl(),
        "name": c.nevra.name,
        "version": c.version(),
        "hashes": [{"alg": "SHA-256", "content": c.sha256.to_hex()}],
        "cpe": c.cpe(),
        "purl": c.purl(),
    });
    if let Some(s) = &c.summary {
        v["description"] = json!(s);
    }
    if let Some(l) = &c.license {
        v["licenses"] = json!([{"license": {"name": l}}]);
    }
    let props: Vec<Value> = c
        .properties()
        .into_iter()
        .map(|(n, val)| json!({"name": n, "value": val}))
        .collect();
    v["properties"] = json!(props);
    v
}

fn tool_json() -> Value {
    json!({"components": [{"type": "application", "name": "albs", "version": env!("CARGO_PKG_VERSION")}]})
}

/// The subject's component and its parts.
fn split(subject: &Subject) -> (Value, Vec<&Component>, OffsetDateTime) {
    match subject {
        Subject::Package(c) => (component_json(c), vec![], c.time),
        Subject::Build {
            id,
            platform,
            url,
            components,
        } => {
            let mut v = json!({
                "type": "application",
                "bom-ref": format!("albs-build-{id}"),
                "name": format!("albs build {id}"),
                "version": id.to_string(),
            });
            let mut props = vec![
                json!({"name": "albs:build:id", "value": id.to_string()}),
                json!({"name": "albs:platform", "value": platform}),
            ];
            if let Some(u) = url {
                props.push(json!({"name": "albs:build:url", "value": u}));
            }
            v["properties"] = json!(props);
            let time = components
                .iter()
                .map(|c| c.time)
                .max()
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            (v, components.iter().collect(), time)
        }
    }
}

/// The CycloneDX 1.5 JSON document for `subject`.
pub fn to_json(subject: &Subject) -> String {
    let (main, parts, time) = split(subject);
    let mut doc = json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": serial_number(subject),
        "version": 1,
        "metadata": {
            "timestamp": rfc3339(time),
            "tools": tool_json(),
            "component": main,
        },
    });
    if !parts.is_empty() {
        doc["components"] = json!(parts.iter().map(|c| component_json(c)).collect::<Vec<_>>());
        let refs: Vec<String> = parts.iter().map(|c| c.purl()).collect();
        doc["dependencies"] = json!([{
            "ref": doc["metadata"]["component"]["bom-ref"],
            "dependsOn": refs,
        }]);
    }
    let mut text = serde_json::to_string_pretty(&doc).expect("JSON serializes");
    text.push('\n');
    text
}

fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            c if c.is_control() && !matches!(c, '\n' | '\t') => {}
            c => o.push(c),
        }
    }
    o
}

fn component_xml(o: &mut String, indent: &str, c: &Component) {
    let _ = writeln!(
        o,
        "{indent}<component type=\"library\" bom-ref=\"{}\">",
        esc(&c.purl())
    );
    let _ = writeln!(o, "{indent}  <name>{}</name>", esc(&c.nevra.name));
    let _ = writeln!(o, "{indent}  <version>{}</version>", esc(&c.version()));
    if let Some(s) = &c.summary {
        let _ = writeln!(o, "{indent}  <description>{}</description>", esc(s));
    }
    let _ = writeln!(
        o,
        "{indent}  <hashes>\n{indent}    <hash alg=\"SHA-256\">{}</hash>\n{indent}  </hashes>",
        c.sha256
    );
    if let Some(l) = &c.license {
        let _ = writeln!(
            o,
            "{indent}  <licenses>\n{indent}    <license>\n{indent}      <name>{}</name>\n{indent}    </license>\n{indent}  </licenses>",
            esc(l)
        );
    }
    let _ = writeln!(o, "{indent}  <cpe>{}</cpe>", esc(&c.cpe()));
    let _ = writeln!(o, "{indent}  <purl>{}</purl>", esc(&c.purl()));
    properties_xml(o, indent, &c.properties());
    let _ = writeln!(o, "{indent}</component>");
}

fn properties_xml(o: &mut String, indent: &str, props: &[(&str, String)]) {
    let _ = writeln!(o, "{indent}  <properties>");
    for (n, v) in props {
        let _ = writeln!(
            o,
            "{indent}    <property name=\"{}\">{}</property>",
            esc(n),
            esc(v)
        );
    }
    let _ = writeln!(o, "{indent}  </properties>");
}

/// The CycloneDX 1.5 XML document for `subject`.
pub fn to_xml(subject: &Subject) -> String {
    let (_, parts, time) = split(subject);
    let mut o = String::new();
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        o,
        "<bom xmlns=\"http://cyclonedx.org/schema/bom/1.5\" serialNumber=\"{}\" version=\"1\">",
        serial_number(subject)
    );
    let _ = writeln!(
        o,
        "  <metadata>\n    <timestamp>{}</timestamp>",
        rfc3339(time)
    );
    let _ = writeln!(
        o,
        "    <tools>\n      <components>\n        <component type=\"application\">\n          <name>albs</name>\n          <version>{}</version>\n        </component>\n      </components>\n    </tools>",
        env!("CARGO_PKG_VERSION")
    );
    match subject {
        Subject::Package(c) => component_xml(&mut o, "    ", c),
        Subject::Build {
            id, platform, url, ..
        } => {
            let _ = writeln!(
                o,
                "    <component type=\"application\" bom-ref=\"albs-build-{id}\">\n      <name>albs build {id}</name>\n      <version>{id}</version>"
            );
            let mut props = vec![
                ("albs:build:id", id.to_string()),
                ("albs:platform", platform.clone()),
            ];
            if let Some(u) = url {
                props.push(("albs:build:url", u.clone()));
            }
            properties_xml(&mut o, "    ", &props);
            let _ = writeln!(o, "    </component>");
        }
    }
    let _ = writeln!(o, "  </metadata>");
    if !parts.is_empty() {
        let _ = writeln!(o, "  <components>");
        for c in &parts {
            component_xml(&mut o, "    ", c);
        }
        let _ = writeln!(o, "  </components>");
        if let Subject::Build { id, .. } = subject {
            let _ = writeln!(
                o,
                "  <dependencies>\n    <dependency ref=\"albs-build-{id}\">"
            );
            for c in &parts {
                let _ = writeln!(o, "      <dependency ref=\"{}\"/>", esc(&c.purl()));
            }
            let _ = writeln!(o, "    </dependency>\n  </dependencies>");
        }
    }
    o.push_str("</bom>\n");
    o
}
