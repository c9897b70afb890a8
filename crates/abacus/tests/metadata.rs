//! Units, constant labels and namespaces: what registration accepts, what it refuses with
//! which error, and what a snapshot shows of them.

use abacus::{Buckets, ConflictReason, Desc, Error, Registry};

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|&(n, v)| (n.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn a_namespace_prefixes_every_family_name() -> Result<(), Error> {
    let registry = Registry::builder().namespace("gateway").build()?;
    let requests = registry.counter(Desc::new("requests_total", "Requests."))?;
    let plain = registry.counter(Desc::new("errors", "Errors."))?;
    let depth = registry.gauge(Desc::new("queue_depth", "Depth."))?;
    assert_eq!(requests.name(), "gateway_requests");
    assert_eq!(plain.name(), "gateway_errors");
    assert_eq!(depth.name(), "gateway_queue_depth");
    let names: Vec<String> = registry
        .snapshot()
        .families
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(
        names,
        ["gateway_requests", "gateway_errors", "gateway_queue_depth"]
    );
    // The same description registers the same family again.
    registry
        .counter(Desc::new("requests", "Requests."))?
        .with_labels(&[])?
        .inc();
    assert_eq!(requests.with_labels(&[])?.value(), 1);
    Ok(())
}

#[test]
fn constant_labels_come_from_the_registry_then_the_family() -> Result<(), Error> {
    let registry = Registry::builder()
        .const_label("region", "eu-west")
        .const_label("zone", "b")
        .build()?;
    registry
        .counter(
            Desc::new("jobs_total", "Jobs.")
                .labels(["queue"])
                .const_labels([("service", "say \"hi\"\n")]),
        )?
        .with_labels(&["fast"])?
        .inc();
    registry.gauge(Desc::new("depth", "Depth."))?;
    let snapshot = registry.snapshot();
    let jobs = snapshot.family("jobs").expect("registered");
    assert_eq!(
        jobs.const_labels,
        pairs(&[
            ("region", "eu-west"),
            ("zone", "b"),
            ("service", "say \"hi\"\n")
        ])
    );
    assert_eq!(jobs.label_names, ["queue"]);
    let depth = snapshot.family("depth").expect("registered");
    assert_eq!(
        depth.const_labels,
        pairs(&[("region", "eu-west"), ("zone", "b")])
    );
    Ok(())
}

#[test]
fn a_label_named_like_a_constant_label_is_refused() {
    let registry = Registry::builder()
        .const_label("region", "eu")
        .build()
        .expect("valid");
    assert_eq!(
        registry
            .counter(Desc::new("jobs", "h").labels(["queue", "region"]))
            .unwrap_err(),
        Error::ConstLabelClash {
            family: "jobs".into(),
            label: "region".into()
        }
    );
    let plain = Registry::new();
    assert_eq!(
        plain
            .gauge(
                Desc::new("depth", "h")
                    .labels(["queue"])
                    .const_labels([("queue", "a")])
            )
            .unwrap_err(),
        Error::ConstLabelClash {
            family: "depth".into(),
            label: "queue".into()
        }
    );
    // A family's constant label may not repeat the registry's either.
    assert_eq!(
        registry
            .gauge(Desc::new("depth", "h").const_labels([("region", "us")]))
            .unwrap_err(),
        Error::DuplicateLabelName("region".into())
    );
    assert!(registry.snapshot().families.is_empty());
}

#[test]
fn bad_constant_labels_are_refused() {
    let cases: Vec<(Vec<(&str, &str)>, Error)> = vec![
        (vec![("1a", "x")], Error::InvalidLabelName("1a".into())),
        (
            vec![("__name__", "x")],
            Error::ReservedLabelName("__name__".into()),
        ),
        (
            vec![("a", "x"), ("a", "y")],
            Error::DuplicateLabelName("a".into()),
        ),
        (
            vec![("a", "line\r")],
            Error::CarriageReturn {
                family: "m".into(),
                text: "line\r".into(),
            },
        ),
    ];
    for (labels, expected) in cases {
        let error = Registry::new()
            .gauge(Desc::new("m", "h").const_labels(labels.clone()))
            .unwrap_err();
        assert_eq!(error, expected, "{labels:?}");
        let mut builder = Registry::builder().namespace("ns");
        for (name, value) in &labels {
            builder = builder.const_label(*name, *value);
        }
        let error = builder.build().unwrap_err();
        let expected = match expected {
            Error::CarriageReturn { text, .. } => Error::CarriageReturn {
                family: "ns".into(),
                text,
            },
            other => other,
        };
        assert_eq!(error, expected, "{labels:?}");
    }
}

#[test]
fn le_is_reserved_as_a_constant_label_of_histograms_only() {
    let buckets = Buckets::new([1.0]).expect("valid");
    assert_eq!(
        Registry::new()
            .histogram(
                Desc::new("h", "h").const_labels([("le", "1")]),
                buckets.clone()
            )
            .unwrap_err(),
        Error::ReservedLabelName("le".into())
    );
    let registry = Registry::builder()
        .const_label("le", "x")
        .build()
        .expect("le is fine on other kinds");
    registry.gauge(Desc::new("g", "h")).expect("a gauge");
    assert_eq!(
        registry
            .histogram(Desc::new("h", "h"), buckets)
            .unwrap_err(),
        Error::ReservedLabelName("le".into())
    );
}

#[test]
fn an_invalid_namespace_is_refused() {
    for namespace in ["1x", "a-b", "ü"] {
        assert_eq!(
            Registry::builder()
                .namespace(namespace)
                .build()
                .unwrap_err(),
            Error::InvalidMetricName(namespace.into())
        );
    }
}

#[test]
fn a_unit_must_end_the_family_name() -> Result<(), Error> {
    let registry = Registry::new();
    registry.histogram(
        Desc::new("latency_seconds", "h").unit("seconds"),
        Buckets::new([1.0])?,
    )?;
    registry.counter(Desc::new("cpu_seconds_total", "h").unit("seconds"))?;
    registry.gauge(Desc::new("size", "h").unit(""))?;
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.families[0].unit, "seconds");
    assert_eq!(snapshot.families[1].name, "cpu_seconds");
    assert_eq!(snapshot.families[1].unit, "seconds");
    assert_eq!(snapshot.families[2].unit, "");

    // Not a suffix, not after an underscore, the whole name, or not a name's end.
    for (name, unit) in [
        ("latency", "seconds"),
        ("latencyseconds", "seconds"),
        ("seconds", "seconds"),
        ("requests_total", "total"),
        ("x_seconds", "_seconds"),
        ("size_bytes", "bytes "),
    ] {
        assert_eq!(
            Registry::new()
                .counter(Desc::new(name, "h").unit(unit))
                .unwrap_err(),
            Error::InvalidUnit {
                family: name.strip_suffix("_total").unwrap_or(name).into(),
                unit: unit.into()
            },
            "{name} {unit}"
        );
    }
    // With a namespace the unit still ends the name.
    let namespaced = Registry::builder().namespace("app").build()?;
    let family = namespaced.gauge(Desc::new("size_bytes", "h").unit("bytes"))?;
    assert_eq!(family.name(), "app_size_bytes");
    Ok(())
}

#[test]
fn registering_again_with_another_unit_or_constant_labels_conflicts() -> Result<(), Error> {
    let registry = Registry::new();
    let desc = Desc::new("size_bytes", "h")
        .unit("bytes")
        .const_labels([("a", "1")]);
    registry.gauge(desc.clone())?;
    registry.gauge(desc)?;
    assert_eq!(
        registry
            .gauge(Desc::new("size_bytes", "h").const_labels([("a", "1")]))
            .unwrap_err(),
        Error::Conflict {
            name: "size_bytes".into(),
            reason: ConflictReason::Unit
        }
    );
    assert_eq!(
        registry
            .gauge(
                Desc::new("size_bytes", "h")
                    .unit("bytes")
                    .const_labels([("a", "2")])
            )
            .unwrap_err(),
        Error::Conflict {
            name: "size_bytes".into(),
            reason: ConflictReason::ConstLabels
        }
    );
    Ok(())
}

#[test]
fn new_errors_name_the_offending_values() {
    assert_eq!(
        Error::ConstLabelClash {
            family: "jobs".into(),
            label: "region".into()
        }
        .to_string(),
        "family \"jobs\" has a label \"region\" and a constant label of the same name"
    );
    assert_eq!(
        Error::InvalidUnit {
            family: "latency".into(),
            unit: "seconds".into()
        }
        .to_string(),
        "unit \"seconds\" of family \"latency\" must be made of letters, digits, '_' and ':' \
         and end the family name after an underscore"
    );
}
