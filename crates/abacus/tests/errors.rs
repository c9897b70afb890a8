//! Every registration and resolution error, with the offending value it carries.

use abacus::{BucketError, Buckets, ConflictReason, Desc, Error, FixedCounter, Registry};

/// Registers `desc` as each kind in turn on fresh registries and returns every error.
fn register_every_kind(desc: &Desc) -> Vec<Error> {
    let buckets = Buckets::new([1.0]).unwrap();
    vec![
        Registry::new().counter(desc.clone()).unwrap_err(),
        Registry::new().fixed_counter(desc.clone(), 3).unwrap_err(),
        Registry::new().gauge(desc.clone()).unwrap_err(),
        Registry::new().float_gauge(desc.clone()).unwrap_err(),
        Registry::new()
            .histogram(desc.clone(), buckets)
            .unwrap_err(),
    ]
}

#[test]
fn valid_metric_names_are_accepted() {
    for name in [
        "a", "_a", "a:b", "a1", ":a", "A_b:C9", "_", "a_total", "__a",
    ] {
        let registry = Registry::new();
        registry.gauge(Desc::new(name, "h")).unwrap();
        Registry::new().counter(Desc::new(name, "h")).unwrap();
        Registry::new()
            .histogram(Desc::new(name, "h"), Buckets::new([1.0]).unwrap())
            .unwrap();
        assert!(registry.snapshot().family(name).is_some(), "{name}");
    }
}

#[test]
fn invalid_metric_names_are_refused_with_the_name() {
    for name in [
        "", "1a", "a-b", "a.b", "ü", "aü", " a", "a b", "a\n", "a{}", "9",
    ] {
        for error in register_every_kind(&Desc::new(name, "h")) {
            assert_eq!(error, Error::InvalidMetricName(name.to_owned()), "{name:?}");
        }
    }
}

#[test]
fn invalid_metric_name_is_reported_with_its_total_suffix() {
    let error = Registry::new()
        .counter(Desc::new("1x_total", "h"))
        .unwrap_err();
    assert_eq!(error, Error::InvalidMetricName("1x_total".to_owned()));
}

#[test]
fn valid_label_names_are_accepted() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("c", "h").labels(["a", "_x", "_", "A9", "a_b", "le"]))
        .unwrap();
    assert_eq!(
        family.label_names().collect::<Vec<_>>(),
        ["a", "_x", "_", "A9", "a_b", "le"]
    );
}

#[test]
fn invalid_label_names_are_refused_with_the_name() {
    for label in ["", "a:b", ":a", "1a", "a-b", "a.b", "ü", "a b"] {
        let desc = Desc::new("m", "h").labels(["ok", label]);
        for error in register_every_kind(&desc) {
            assert_eq!(
                error,
                Error::InvalidLabelName(label.to_owned()),
                "{label:?}"
            );
        }
    }
}

#[test]
fn label_names_starting_with_two_underscores_are_reserved() {
    for label in ["__x", "__", "__name__", "___"] {
        let desc = Desc::new("m", "h").labels([label]);
        for error in register_every_kind(&desc) {
            assert_eq!(
                error,
                Error::ReservedLabelName(label.to_owned()),
                "{label:?}"
            );
        }
    }
}

#[test]
fn le_is_reserved_on_histograms_only() {
    let desc = Desc::new("m", "h").labels(["route", "le"]);
    let error = Registry::new()
        .histogram(desc.clone(), Buckets::new([1.0]).unwrap())
        .unwrap_err();
    assert_eq!(error, Error::ReservedLabelName("le".to_owned()));
    Registry::new().counter(desc.clone()).unwrap();
    Registry::new().gauge(desc.clone()).unwrap();
    Registry::new().float_gauge(desc.clone()).unwrap();
    Registry::new().fixed_counter(desc, 2).unwrap();
}

#[test]
fn duplicate_label_names_are_refused_with_the_name() {
    let desc = Desc::new("m", "h").labels(["a", "b", "c", "b"]);
    for error in register_every_kind(&desc) {
        assert_eq!(error, Error::DuplicateLabelName("b".to_owned()));
    }
}

#[test]
fn wrong_number_of_label_values_reports_family_expected_and_got() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("requests_total", "h").labels(["route", "code"]))
        .unwrap();
    let expected = |got| Error::LabelCount {
        family: "requests".to_owned(),
        expected: 2,
        got,
    };
    assert_eq!(family.with_labels(&["chat"]).unwrap_err(), expected(1));
    assert_eq!(family.with_labels(&[]).unwrap_err(), expected(0));
    assert_eq!(
        family.with_labels(&["a", "b", "c"]).unwrap_err(),
        expected(3)
    );
    // A refused resolution creates no series.
    assert!(registry
        .snapshot()
        .family("requests")
        .unwrap()
        .series
        .is_empty());

    let gauge = registry.gauge(Desc::new("level", "h")).unwrap();
    assert_eq!(
        gauge.with_labels(&["x"]).unwrap_err(),
        Error::LabelCount {
            family: "level".to_owned(),
            expected: 0,
            got: 1
        }
    );
}

#[test]
fn registering_another_kind_under_a_taken_name_is_a_kind_conflict() {
    let buckets = || Buckets::new([1.0]).unwrap();
    let kind_conflict = |name: &str| Error::Conflict {
        name: name.to_owned(),
        reason: ConflictReason::Kind,
    };
    let registry = Registry::new();
    registry.counter(Desc::new("c", "h")).unwrap();
    registry.gauge(Desc::new("g", "h")).unwrap();
    registry
        .histogram(Desc::new("hist", "h"), buckets())
        .unwrap();
    assert_eq!(
        registry.gauge(Desc::new("c", "h")).unwrap_err(),
        kind_conflict("c")
    );
    assert_eq!(
        registry.fixed_counter(Desc::new("c", "h"), 0).unwrap_err(),
        kind_conflict("c")
    );
    assert_eq!(
        registry.float_gauge(Desc::new("g", "h")).unwrap_err(),
        kind_conflict("g")
    );
    assert_eq!(
        registry.counter(Desc::new("g", "h")).unwrap_err(),
        kind_conflict("g")
    );
    assert_eq!(
        registry.counter(Desc::new("hist", "h")).unwrap_err(),
        kind_conflict("hist")
    );
    assert_eq!(
        registry
            .histogram(Desc::new("g", "h"), buckets())
            .unwrap_err(),
        kind_conflict("g")
    );
    // The `_total` spelling of a counter name is the same family, named without it.
    assert_eq!(
        registry
            .fixed_counter(Desc::new("c_total", "h"), 0)
            .unwrap_err(),
        kind_conflict("c")
    );
}

#[test]
fn registering_a_taken_name_with_other_help_labels_buckets_or_scale_conflicts() {
    let registry = Registry::new();
    let conflict = |name: &str, reason| Error::Conflict {
        name: name.to_owned(),
        reason,
    };
    registry
        .counter(Desc::new("c_total", "Help.").labels(["a", "b"]))
        .unwrap();
    assert_eq!(
        registry
            .counter(Desc::new("c_total", "Other.").labels(["a", "b"]))
            .unwrap_err(),
        conflict("c", ConflictReason::Help)
    );
    assert_eq!(
        registry
            .counter(Desc::new("c", "Help.").labels(["b", "a"]))
            .unwrap_err(),
        conflict("c", ConflictReason::Labels)
    );
    assert_eq!(
        registry
            .counter(Desc::new("c", "Help.").labels(["a"]))
            .unwrap_err(),
        conflict("c", ConflictReason::Labels)
    );
    assert_eq!(
        registry.counter(Desc::new("c", "Help.")).unwrap_err(),
        conflict("c", ConflictReason::Labels)
    );

    registry
        .histogram(Desc::new("h", "Help."), Buckets::new([1.0, 2.0]).unwrap())
        .unwrap();
    assert_eq!(
        registry
            .histogram(Desc::new("h", "Help."), Buckets::new([1.0, 3.0]).unwrap())
            .unwrap_err(),
        conflict("h", ConflictReason::Buckets)
    );
    assert_eq!(
        registry
            .histogram(Desc::new("h", "Help."), Buckets::new([1.0]).unwrap())
            .unwrap_err(),
        conflict("h", ConflictReason::Buckets)
    );

    registry
        .fixed_counter(Desc::new("money", "Help."), 2)
        .unwrap();
    assert_eq!(
        registry
            .fixed_counter(Desc::new("money", "Help."), 3)
            .unwrap_err(),
        conflict("money", ConflictReason::Scale)
    );
    // Conflicting attempts leave the original registrations usable.
    registry
        .counter(Desc::new("c", "Help.").labels(["a", "b"]))
        .unwrap();
    registry
        .fixed_counter(Desc::new("money_total", "Help."), 2)
        .unwrap();
    assert_eq!(registry.snapshot().families.len(), 3);
}

#[test]
fn a_sample_name_exposed_by_another_family_is_a_name_clash() {
    let clash = |name: &str, sample: &str, existing: &str| Error::NameClash {
        name: name.to_owned(),
        sample: sample.to_owned(),
        existing: existing.to_owned(),
    };
    let buckets = || Buckets::new([1.0]).unwrap();

    // A counter `x` exposes `x_total` (and `x_created`).
    let registry = Registry::new();
    registry.counter(Desc::new("x", "h")).unwrap();
    assert_eq!(
        registry.gauge(Desc::new("x_total", "h")).unwrap_err(),
        clash("x_total", "x_total", "x")
    );
    assert_eq!(
        registry
            .float_gauge(Desc::new("x_created", "h"))
            .unwrap_err(),
        clash("x_created", "x_created", "x")
    );

    // A histogram `h` exposes `h_bucket`, `h_sum` and `h_count`.
    let registry = Registry::new();
    registry.histogram(Desc::new("h", "h"), buckets()).unwrap();
    for sample in ["h_bucket", "h_sum", "h_count"] {
        assert_eq!(
            registry.gauge(Desc::new(sample, "h")).unwrap_err(),
            clash(sample, sample, "h")
        );
    }
    assert_eq!(
        registry
            .counter(Desc::new("h_count_total", "h"))
            .unwrap_err(),
        clash("h_count", "h_count", "h")
    );

    // The other way round: the family registered second is the one refused.
    for sample in ["y_bucket", "y_sum", "y_count"] {
        let registry = Registry::new();
        registry.gauge(Desc::new(sample, "h")).unwrap();
        assert_eq!(
            registry
                .histogram(Desc::new("y", "h"), buckets())
                .unwrap_err(),
            clash("y", sample, sample)
        );
    }
    let registry = Registry::new();
    registry.gauge(Desc::new("z_total", "h")).unwrap();
    assert_eq!(
        registry.counter(Desc::new("z", "h")).unwrap_err(),
        clash("z", "z_total", "z_total")
    );
    assert_eq!(
        registry.counter(Desc::new("z_total", "h")).unwrap_err(),
        clash("z", "z_total", "z_total")
    );
    // A refused family is not registered: only the gauge is there.
    let names: Vec<String> = registry
        .snapshot()
        .families
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["z_total"]);
}

#[test]
fn invalid_bucket_bounds_report_index_bound_and_reason() {
    let invalid = |index, bound, reason| {
        Err::<Buckets, _>(Error::InvalidBucket {
            index,
            bound,
            reason,
        })
    };
    assert_eq!(
        Buckets::new([1.0, 2.0, 2.0]),
        invalid(2, 2.0, BucketError::Duplicate)
    );
    assert_eq!(
        Buckets::new([1.0, 3.0, 2.0]),
        invalid(2, 2.0, BucketError::Unsorted)
    );
    assert_eq!(
        Buckets::new([0.0, -0.0]),
        invalid(1, -0.0, BucketError::Duplicate)
    );
    assert_eq!(
        Buckets::new([5.0, f64::NEG_INFINITY]),
        invalid(1, f64::NEG_INFINITY, BucketError::Unsorted)
    );
    assert_eq!(
        Buckets::new([f64::INFINITY, 1.0]),
        invalid(1, 1.0, BucketError::Unsorted)
    );
    // NaN never equals itself, so match on the fields.
    for (bounds, nan_at) in [(vec![f64::NAN], 0), (vec![1.0, 2.0, f64::NAN, 3.0], 2)] {
        match Buckets::new(bounds) {
            Err(Error::InvalidBucket {
                index,
                bound,
                reason: BucketError::NaN,
            }) => {
                assert_eq!(index, nan_at);
                assert!(bound.is_nan());
            }
            other => panic!("expected a NaN bucket error, got {other:?}"),
        }
    }
    let too_many: Vec<f64> = (0..=Buckets::MAX_BOUNDS).map(|i| i as f64).collect();
    assert_eq!(
        Buckets::new(too_many),
        invalid(
            Buckets::MAX_BOUNDS,
            Buckets::MAX_BOUNDS as f64,
            BucketError::TooMany
        )
    );
    // Computed layouts are checked the same way.
    assert_eq!(
        Buckets::exponential(0.0, 2.0, 3),
        invalid(1, 0.0, BucketError::Duplicate)
    );
    assert_eq!(
        Buckets::exponential(8.0, 0.5, 3),
        invalid(1, 4.0, BucketError::Unsorted)
    );
    assert_eq!(
        Buckets::linear(1.0, -1.0, 3),
        invalid(1, 0.0, BucketError::Unsorted)
    );
    assert_eq!(
        Buckets::linear(1.0, 0.0, 2),
        invalid(1, 1.0, BucketError::Duplicate)
    );
}

#[test]
fn fixed_counter_scale_above_fifteen_is_refused_with_the_scale() {
    let registry = Registry::new();
    assert_eq!(FixedCounter::MAX_DECIMALS, 15);
    for decimals in [16, 100, u32::MAX] {
        assert_eq!(
            registry
                .fixed_counter(Desc::new("m", "h"), decimals)
                .unwrap_err(),
            Error::InvalidScale(decimals)
        );
    }
    // The refused scale did not register the name.
    registry.gauge(Desc::new("m", "h")).unwrap();
}

#[test]
fn a_full_registry_refuses_new_series_with_capacity_exhausted() {
    // A histogram with 256 bounds takes 258 cells; a registry has about four million cells
    // (4096 pages of 1024, a series never straddling two pages), so 12_288 to 16_256 fit.
    let registry = Registry::new();
    let bounds: Vec<f64> = (0..Buckets::MAX_BOUNDS).map(|i| i as f64).collect();
    let family = registry
        .histogram(
            // No series limit in the way: the cells must run out first.
            Desc::new("wide", "h").labels(["i"]).max_series(usize::MAX),
            Buckets::new(bounds).unwrap(),
        )
        .unwrap();
    let mut created = 0usize;
    let error = loop {
        assert!(
            created <= 4 * 1024 * 1024 / 258,
            "more series than cells allow"
        );
        match family.with_labels(&[&created.to_string()]) {
            Ok(_) => created += 1,
            Err(error) => break error,
        }
    };
    assert_eq!(error, Error::CapacityExhausted);
    assert!(created >= 4096 * 3, "only {created} series fit");
    // Series that exist still resolve and record; the refused one was not created.
    let last = family.with_labels(&[&(created - 1).to_string()]).unwrap();
    last.observe(300.0);
    assert_eq!(last.count(), 1);
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.family("wide").unwrap().series.len(), created);
    // A new family without labels needs a series at registration, and there is no room.
    assert_eq!(
        registry
            .histogram(
                Desc::new("wide2", "h"),
                Buckets::new((0..256).map(f64::from).collect::<Vec<_>>()).unwrap()
            )
            .unwrap_err(),
        Error::CapacityExhausted
    );
    assert!(registry.snapshot().family("wide2").is_none());
}

#[test]
fn error_messages_name_the_offending_value() {
    let registry = Registry::new();
    registry
        .counter(Desc::new("taken", "h").labels(["a"]))
        .unwrap();
    let cases = [
        (
            registry.gauge(Desc::new("bad-name", "h")).unwrap_err(),
            "bad-name",
        ),
        (
            registry
                .gauge(Desc::new("m", "h").labels(["bad:label"]))
                .unwrap_err(),
            "bad:label",
        ),
        (
            registry
                .gauge(Desc::new("m", "h").labels(["__r"]))
                .unwrap_err(),
            "__r",
        ),
        (
            registry
                .gauge(Desc::new("m", "h").labels(["dup", "dup"]))
                .unwrap_err(),
            "dup",
        ),
        (
            registry.gauge(Desc::new("taken", "h")).unwrap_err(),
            "taken",
        ),
        (
            registry.gauge(Desc::new("taken_total", "h")).unwrap_err(),
            "taken_total",
        ),
        (
            registry.fixed_counter(Desc::new("m", "h"), 17).unwrap_err(),
            "17",
        ),
        (Buckets::new([1.0, 0.5]).unwrap_err(), "0.5"),
    ];
    for (error, needle) in cases {
        let message = error.to_string();
        assert!(
            message.contains(needle),
            "{message:?} does not name {needle:?}"
        );
    }
    let family = registry
        .counter(Desc::new("taken", "h").labels(["a"]))
        .unwrap();
    let message = family
        .with_labels(&["x", "y", "z"])
        .unwrap_err()
        .to_string();
    for needle in ["taken", "1", "3"] {
        assert!(
            message.contains(needle),
            "{message:?} does not name {needle:?}"
        );
    }
}

/// Regression: a raw carriage return was rendered as is, and strict parsers reject it;
/// the text formats have no escape for it.
#[test]
fn a_carriage_return_in_help_or_a_label_value_is_refused() {
    let registry = Registry::new();
    assert_eq!(
        registry
            .counter(Desc::new("jobs_total", "Jobs\rdone."))
            .unwrap_err(),
        Error::CarriageReturn {
            family: "jobs_total".to_owned(),
            text: "Jobs\rdone.".to_owned()
        }
    );
    let family = registry
        .counter(Desc::new("jobs_total", "Jobs.").labels(["queue"]))
        .unwrap();
    assert_eq!(
        family.with_labels(&["a\rb"]).unwrap_err(),
        Error::CarriageReturn {
            family: "jobs".to_owned(),
            text: "a\rb".to_owned()
        }
    );
    assert_eq!(registry.snapshot().families[0].series.len(), 0);
}

/// Regression: `linear` and `exponential` built every bound before checking the count, so
/// a huge count exhausted memory instead of returning an error.
#[test]
fn a_huge_bucket_count_is_refused_without_building_it() {
    for result in [
        Buckets::linear(0.0, 1.0, usize::MAX),
        Buckets::exponential(1.0, 1.0001, 1 << 40),
    ] {
        assert!(
            matches!(
                result,
                Err(Error::InvalidBucket {
                    index: Buckets::MAX_BOUNDS,
                    reason: BucketError::TooMany,
                    ..
                })
            ),
            "{result:?}"
        );
    }
}

#[test]
fn shared_names_take_other_label_names_but_nothing_else_that_differs() {
    let registry = Registry::new();
    let conflict = |reason| Error::Conflict {
        name: "s".to_owned(),
        reason,
    };
    let shared = |labels: &[&str], help: &str| {
        Desc::new("s", help)
            .labels(labels.iter().copied())
            .shared_name()
    };
    let by_route = registry.counter(shared(&["route"], "Help.")).unwrap();
    let by_status = registry.counter(shared(&["status"], "Help.")).unwrap();
    assert_eq!(by_status.label_names().collect::<Vec<_>>(), ["status"]);
    // The same label names again are the same family, whichever sibling they match.
    let again = registry.counter(shared(&["route"], "Help.")).unwrap();
    again.with_labels(&["a"]).unwrap().inc();
    assert_eq!(by_route.with_labels(&["a"]).unwrap().value(), 1);

    assert_eq!(
        registry.counter(shared(&["other"], "Other.")).unwrap_err(),
        conflict(ConflictReason::Help)
    );
    assert_eq!(
        registry.gauge(shared(&["other"], "Help.")).unwrap_err(),
        conflict(ConflictReason::Kind)
    );
    // Both sides must ask for it.
    assert_eq!(
        registry
            .counter(Desc::new("s", "Help.").labels(["other"]))
            .unwrap_err(),
        conflict(ConflictReason::Labels)
    );
    registry.counter(Desc::new("plain", "Help.")).unwrap();
    assert_eq!(
        registry
            .counter(Desc::new("plain", "Help.").labels(["a"]).shared_name())
            .unwrap_err(),
        Error::Conflict {
            name: "plain".to_owned(),
            reason: ConflictReason::Labels
        }
    );
    let histogram = |bounds: [f64; 1], labels: [&str; 1]| {
        registry.histogram(
            Desc::new("hs", "Help.").labels(labels).shared_name(),
            Buckets::new(bounds).unwrap(),
        )
    };
    histogram([1.0], ["a"]).unwrap();
    assert_eq!(
        histogram([2.0], ["b"]).unwrap_err(),
        Error::Conflict {
            name: "hs".to_owned(),
            reason: ConflictReason::Buckets
        }
    );
}

#[test]
fn a_counter_named_as_given_conflicts_with_one_that_adds_total() {
    let registry = Registry::new();
    registry
        .counter(Desc::new("jobs", "Help.").labels(["a"]).shared_name())
        .unwrap();
    let conflict = Error::Conflict {
        name: "jobs".to_owned(),
        reason: ConflictReason::ExactName,
    };
    let exact = Desc::new("jobs", "Help.").exact_name().shared_name();
    assert_eq!(
        registry.counter(exact.clone().labels(["a"])).unwrap_err(),
        conflict
    );
    assert_eq!(registry.counter(exact.labels(["b"])).unwrap_err(), conflict);
    // A name that ends in `_total` keeps it either way.
    registry
        .counter(Desc::new("jobs_total", "Help.").labels(["a"]).exact_name())
        .unwrap();
}
