//! Reading a registry: visitor call order, what each call carries, and owned snapshots.

use abacus::{
    Buckets, Desc, FamilyInfo, Kind, LabelValues, OwnedValue, Registry, Value, VisitBuffers,
    Visitor,
};

/// Records every visitor call as text, in order.
#[derive(Default)]
struct Log(Vec<String>);

impl Visitor for Log {
    fn family(&mut self, family: FamilyInfo<'_>) {
        self.0.push(format!(
            "family {} {:?} {:?} {:?} {:?}",
            family.name, family.help, family.kind, family.label_names, family.bounds
        ));
    }

    fn series(&mut self, labels: &LabelValues, value: Value<'_>) {
        let labels: Vec<&str> = labels.iter().collect();
        self.0.push(format!("series {labels:?} {value:?}"));
    }
}

#[test]
fn visitor_sees_families_in_registration_order_and_series_in_creation_order() {
    let registry = Registry::new();
    let zeta = registry
        .counter(Desc::new("zeta_total", "Z.").labels(["k"]))
        .unwrap();
    let alpha = registry
        .gauge(Desc::new("alpha", "A.").labels(["k"]))
        .unwrap();
    registry
        .histogram(Desc::new("mid", "M."), Buckets::new([1.0]).unwrap())
        .unwrap();
    registry.fixed_counter(Desc::new("beta", "B."), 2).unwrap();
    registry.float_gauge(Desc::new("aaa", "F.")).unwrap();
    for k in ["z", "a", "m"] {
        zeta.with_labels(&[k]).unwrap();
    }
    alpha.with_labels(&["2"]).unwrap().set(2);
    alpha.with_labels(&["1"]).unwrap().set(1);
    // Resolving an existing tuple again does not move it.
    zeta.with_labels(&["z"]).unwrap().inc();

    let mut log = Log::default();
    registry.visit(&mut log);
    assert_eq!(
        log.0,
        [
            r#"family zeta "Z." Counter ["k"] []"#,
            r#"series ["z"] Counter(1)"#,
            r#"series ["a"] Counter(0)"#,
            r#"series ["m"] Counter(0)"#,
            r#"family alpha "A." Gauge ["k"] []"#,
            r#"series ["2"] Gauge(2)"#,
            r#"series ["1"] Gauge(1)"#,
            r#"family mid "M." Histogram [] [1.0]"#,
            r#"series [] Histogram(HistogramValue { cumulative: [0, 0], sum: 0.0 })"#,
            r#"family beta "B." Counter [] []"#,
            r#"series [] Fixed { units: 0, decimals: 2 }"#,
            r#"family aaa "F." Gauge [] []"#,
            r#"series [] FloatGauge(0.0)"#,
        ]
    );
}

#[test]
fn snapshot_matches_the_visitor_in_order_and_content() {
    let registry = Registry::new();
    let c = registry
        .counter(Desc::new("c", "Counts.").labels(["a", "b"]))
        .unwrap();
    c.with_labels(&["1", "2"]).unwrap().add(3);
    c.with_labels(&["0", "9"]).unwrap().add(4);
    let h = registry
        .histogram(
            Desc::new("h", "Hist.").labels(["r"]),
            Buckets::new([0.5, 5.0]).unwrap(),
        )
        .unwrap();
    h.with_labels(&["x"]).unwrap().observe(1.0);

    let snapshot = registry.snapshot();
    assert_eq!(snapshot.families.len(), 2);
    let fc = &snapshot.families[0];
    assert_eq!(
        (fc.name.as_str(), fc.help.as_str(), fc.kind),
        ("c", "Counts.", Kind::Counter)
    );
    assert_eq!(fc.label_names, ["a", "b"]);
    assert!(fc.bounds.is_empty());
    assert_eq!(fc.series[0].labels, ["1", "2"]);
    assert_eq!(fc.series[0].value, OwnedValue::Counter(3));
    assert_eq!(fc.series[1].labels, ["0", "9"]);
    assert_eq!(fc.series[1].value, OwnedValue::Counter(4));
    let fh = &snapshot.families[1];
    assert_eq!((fh.name.as_str(), fh.kind), ("h", Kind::Histogram));
    assert_eq!(fh.bounds, [0.5, 5.0]);
    assert_eq!(
        fh.series(&["x"]),
        Some(&OwnedValue::Histogram {
            cumulative: vec![0, 1, 1],
            sum: 1.0
        })
    );
    assert!(snapshot.family("nope").is_none());
    assert!(fh.series(&["y"]).is_none());
}

#[test]
fn empty_registry_visits_nothing() {
    let registry = Registry::new();
    let mut log = Log::default();
    registry.visit(&mut log);
    assert!(log.0.is_empty());
    assert!(registry.snapshot().families.is_empty());
}

#[test]
fn visit_with_reused_buffers_sees_the_current_values() {
    let registry = Registry::new();
    let c = registry.counter(Desc::new("c", "h").labels(["k"])).unwrap();
    let mut buffers = VisitBuffers::default();
    for round in 1..=5u64 {
        c.with_labels(&[&round.to_string()]).unwrap().add(round);
        let mut log = Log::default();
        registry.visit_with(&mut buffers, &mut log);
        let mut fresh = Log::default();
        registry.visit(&mut fresh);
        assert_eq!(log.0, fresh.0);
        // One family line and `round` series lines.
        assert_eq!(log.0.len(), 1 + round as usize);
        assert_eq!(
            log.0.last().unwrap(),
            &format!("series [\"{round}\"] Counter({round})")
        );
    }
}

#[test]
fn a_visitor_may_record_and_register_while_visiting() {
    // Documented: no lock is held while the visitor runs.
    struct Meddler {
        registry: Registry,
        calls: usize,
    }
    impl Visitor for Meddler {
        fn family(&mut self, family: FamilyInfo<'_>) {
            self.calls += 1;
            let name = format!("late_{}", family.name);
            self.registry.gauge(Desc::new(name, "h")).unwrap();
            let _ = self.registry.snapshot();
        }
        fn series(&mut self, _: &LabelValues, _: Value<'_>) {
            self.calls += 1;
            let c = self.registry.counter(Desc::new("c", "h")).unwrap();
            c.with_labels(&[]).unwrap().inc();
        }
    }
    let registry = Registry::new();
    registry.counter(Desc::new("c", "h")).unwrap();
    let mut meddler = Meddler {
        registry: registry.clone(),
        calls: 0,
    };
    registry.visit(&mut meddler);
    assert_eq!(meddler.calls, 2);
    let snapshot = registry.snapshot();
    let names: Vec<&str> = snapshot.families.iter().map(|f| f.name.as_str()).collect();
    // Families registered during the visit are not part of it, but exist after it.
    assert_eq!(names, ["c", "late_c"]);
    assert_eq!(
        snapshot.family("c").unwrap().series(&[]),
        Some(&OwnedValue::Counter(1))
    );
}

#[test]
fn value_as_f64_converts_counters_and_gauges_only() {
    assert_eq!(Value::Counter(3).as_f64(), Some(3.0));
    assert_eq!(
        Value::Fixed {
            units: 1234,
            decimals: 2
        }
        .as_f64(),
        Some(12.34)
    );
    assert_eq!(
        Value::Fixed {
            units: 5,
            decimals: 0
        }
        .as_f64(),
        Some(5.0)
    );
    assert_eq!(Value::Gauge(-8).as_f64(), Some(-8.0));
    assert_eq!(Value::FloatGauge(0.25).as_f64(), Some(0.25));
    let h = abacus::HistogramValue {
        cumulative: &[1, 2, 3],
        sum: 1.0,
    };
    assert_eq!(Value::Histogram(h).as_f64(), None);
    assert_eq!(h.count(), 3);
    let empty = abacus::HistogramValue {
        cumulative: &[],
        sum: 0.0,
    };
    assert_eq!(empty.count(), 0);
}

#[test]
fn visitor_histogram_count_is_the_inf_bucket() {
    struct Counts(Vec<(u64, u64)>);
    impl Visitor for Counts {
        fn family(&mut self, _: FamilyInfo<'_>) {}
        fn series(&mut self, _: &LabelValues, value: Value<'_>) {
            if let Value::Histogram(h) = value {
                self.0.push((h.count(), *h.cumulative.last().unwrap()));
            }
        }
    }
    let registry = Registry::new();
    let h = registry
        .histogram(Desc::new("h", "h"), Buckets::new([1.0, 2.0]).unwrap())
        .unwrap()
        .with_labels(&[])
        .unwrap();
    for v in [0.5, 1.5, 2.5, f64::NAN] {
        h.observe(v);
    }
    let mut counts = Counts(Vec::new());
    registry.visit(&mut counts);
    assert_eq!(counts.0, [(4, 4)]);
}
