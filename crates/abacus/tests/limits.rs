//! Series limits: past a family's limit, new label values land in its overflow series,
//! counted per family, while the series it holds keep working.

use abacus::{Buckets, Desc, Error, OwnedValue, Registry, OVERFLOW_LABEL};

/// The snapshot families named `name`: the family, then its overflow series' family.
fn families<'a>(snapshot: &'a abacus::Snapshot, name: &str) -> Vec<&'a abacus::FamilySnapshot> {
    snapshot
        .families
        .iter()
        .filter(|f| f.name == name)
        .collect()
}

fn overflow_count(registry: &Registry, family: &str) -> Option<u64> {
    let snapshot = registry.snapshot();
    let counter = snapshot.family("abacus_series_overflow")?;
    match counter.series(&[family])? {
        OwnedValue::Counter(n) => Some(*n),
        other => panic!("{other:?}"),
    }
}

#[test]
fn new_values_past_the_limit_go_to_the_overflow_series() -> Result<(), Error> {
    let registry = Registry::new();
    let requests =
        registry.counter(Desc::new("requests", "R.").labels(["tenant"]).max_series(3))?;
    for tenant in ["a", "b", "c"] {
        requests.with_labels(&[tenant])?.add(1);
    }
    // Two new tenants past the limit, one of them twice, by handle and per call.
    requests.with_labels(&["d"])?.add(10);
    requests.inc(&["e"])?;
    requests.inc(&["e"])?;
    // Tenants the family holds keep their own series.
    requests.with_labels(&["a"])?.add(5);
    requests.inc(&["b"])?;

    let snapshot = registry.snapshot();
    let parts = families(&snapshot, "requests");
    assert_eq!(parts.len(), 2, "{snapshot:?}");
    let regular: Vec<(&[String], &OwnedValue)> = parts[0]
        .series
        .iter()
        .map(|s| (&s.labels[..], &s.value))
        .collect();
    assert_eq!(
        regular,
        [
            (&["a".to_string()][..], &OwnedValue::Counter(6)),
            (&["b".to_string()][..], &OwnedValue::Counter(2)),
            (&["c".to_string()][..], &OwnedValue::Counter(1)),
        ]
    );
    assert_eq!(parts[1].label_names, [OVERFLOW_LABEL]);
    assert_eq!(parts[1].series(&["true"]), Some(&OwnedValue::Counter(12)));
    // "d" once by handle, "e" once per call: this thread remembers where "e" went.
    assert_eq!(overflow_count(&registry, "requests"), Some(2));
    Ok(())
}

#[test]
fn a_family_below_its_limit_has_no_overflow_series_or_count() -> Result<(), Error> {
    let registry = Registry::new();
    let requests = registry.counter(Desc::new("requests", "R.").labels(["tenant"]))?;
    requests.inc(&["a"])?;
    let snapshot = registry.snapshot();
    assert_eq!(families(&snapshot, "requests").len(), 1);
    assert!(snapshot.family("abacus_series_overflow").is_none());
    Ok(())
}

#[test]
fn histograms_and_gauges_overflow_too() -> Result<(), Error> {
    let registry = Registry::builder().max_series_per_family(1).build()?;
    let latency = registry.histogram(
        Desc::new("latency", "L.").labels(["route"]),
        Buckets::new([1.0, 2.0])?,
    )?;
    latency.observe(&["/a"], 0.5)?;
    latency.observe(&["/b"], 1.5)?;
    latency.with_labels(&["/c"])?.observe(3.0);
    let depth = registry.gauge(Desc::new("depth", "D.").labels(["queue"]))?;
    depth.with_labels(&["q1"])?.set(4);
    depth.with_labels(&["q2"])?.add(7);
    depth.with_labels(&["q3"])?.add(-2);

    let snapshot = registry.snapshot();
    let latency_parts = families(&snapshot, "latency");
    assert_eq!(
        latency_parts[1].series(&["true"]),
        Some(&OwnedValue::Histogram {
            cumulative: vec![0, 1, 2],
            sum: 4.5
        })
    );
    let depth_parts = families(&snapshot, "depth");
    assert_eq!(depth_parts[0].series(&["q1"]), Some(&OwnedValue::Gauge(4)));
    assert_eq!(
        depth_parts[1].series(&["true"]),
        Some(&OwnedValue::Gauge(5))
    );
    assert_eq!(overflow_count(&registry, "latency"), Some(2));
    assert_eq!(overflow_count(&registry, "depth"), Some(2));
    Ok(())
}

#[test]
fn the_overflow_label_and_the_overflow_counter_are_reserved() -> Result<(), Error> {
    let registry = Registry::builder().namespace("gw").build()?;
    assert_eq!(
        registry
            .counter(Desc::new("requests", "R.").labels([OVERFLOW_LABEL]))
            .unwrap_err(),
        Error::ReservedLabelName(OVERFLOW_LABEL.to_string())
    );
    assert!(matches!(
        registry.counter(Desc::new("abacus_series_overflow_total", "Mine.")),
        Err(Error::NameClash { .. })
    ));
    assert!(matches!(
        registry.gauge(Desc::new("abacus_series_overflow", "Mine.")),
        Err(Error::NameClash { .. })
    ));
    // The counter takes the registry's namespace, like every family: `gw_abacus_...`.
    registry
        .counter(Desc::new("requests", "R.").labels(["t"]).max_series(0))?
        .inc(&["x"])?;
    assert!(registry
        .snapshot()
        .family("gw_abacus_series_overflow")
        .is_some());
    Ok(())
}
