//! Families: resolution of label values to series, sharing, and registry isolation.

mod common;

use abacus::{Buckets, Desc, OwnedValue, Registry};

#[test]
fn same_label_values_resolve_to_the_same_series() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("c", "h").labels(["a", "b"]))
        .unwrap();
    let first = family.with_labels(&["x", "y"]).unwrap();
    let second = family.with_labels(&["x", "y"]).unwrap();
    first.add(2);
    second.add(3);
    assert_eq!(first.value(), 5);
    assert_eq!(second.value(), 5);
    let snapshot = registry.snapshot();
    assert_eq!(snapshot.family("c").unwrap().series.len(), 1);
    // A value built at run time, not the same &str, finds the same series.
    let owned = String::from("x");
    family.with_labels(&[&owned, "y"]).unwrap().inc();
    assert_eq!(first.value(), 6);
}

#[test]
fn gauge_handles_of_one_series_share_the_value() {
    let registry = Registry::new();
    let family = registry.gauge(Desc::new("g", "h").labels(["k"])).unwrap();
    let a = family.with_labels(&["v"]).unwrap();
    let b = family.with_labels(&["v"]).unwrap();
    a.set(10);
    b.sub(3);
    assert_eq!(a.value(), 7);
    let fg = registry
        .float_gauge(Desc::new("f", "h").labels(["k"]))
        .unwrap();
    fg.with_labels(&["v"]).unwrap().set(1.5);
    fg.with_labels(&["v"]).unwrap().add(1.0);
    assert_eq!(fg.with_labels(&["v"]).unwrap().value(), 2.5);
}

#[test]
fn different_label_tuples_are_distinct_series() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("c", "h").labels(["a", "b"]))
        .unwrap();
    // Pairs that concatenate to the same string must not be confused.
    let tuples: [[&str; 2]; 8] = [
        ["ab", "c"],
        ["a", "bc"],
        ["abc", ""],
        ["", "abc"],
        ["", ""],
        ["a", "b"],
        ["b", "a"],
        ["a\u{0}", "b"],
    ];
    for (i, tuple) in tuples.iter().enumerate() {
        family.with_labels(tuple).unwrap().add(1 << i);
    }
    let snapshot = registry.snapshot();
    let series = &snapshot.family("c").unwrap().series;
    assert_eq!(series.len(), tuples.len());
    for (i, tuple) in tuples.iter().enumerate() {
        assert_eq!(
            snapshot.family("c").unwrap().series(tuple),
            Some(&OwnedValue::Counter(1 << i)),
            "{tuple:?}"
        );
        assert_eq!(series[i].labels, tuple);
    }
}

#[test]
fn label_values_may_be_any_utf8_and_come_back_unchanged() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("c", "h").labels(["v", "w"]))
        .unwrap();
    let values = [
        "",
        "ü",
        "日本語",
        "🦀 crab",
        "a\"quoted\"\\back\\slash",
        "new\nline\ttab",
        "\u{0}nul",
        "{x=\"y\"}",
        "\u{10FFFF}",
    ];
    for (i, value) in values.iter().enumerate() {
        let c = family.with_labels(&[*value, "tail"]).unwrap();
        c.add(i as u64 + 1);
    }
    let snapshot = registry.snapshot();
    let series = &snapshot.family("c").unwrap().series;
    assert_eq!(series.len(), values.len());
    for (i, value) in values.iter().enumerate() {
        assert_eq!(series[i].labels, [*value, "tail"]);
        assert_eq!(series[i].value, OwnedValue::Counter(i as u64 + 1));
        assert_eq!(
            family.with_labels(&[*value, "tail"]).unwrap().value(),
            i as u64 + 1
        );
    }
}

#[test]
fn long_label_values_are_kept_whole() {
    let registry = Registry::new();
    let family = registry
        .gauge(Desc::new("g", "h").labels(["a", "b", "c"]))
        .unwrap();
    let long = "x".repeat(100_000);
    let other = "é".repeat(50_000);
    family.with_labels(&[&long, "", &other]).unwrap().set(1);
    family.with_labels(&[&long, &other, ""]).unwrap().set(2);
    let snapshot = registry.snapshot();
    let f = snapshot.family("g").unwrap();
    assert_eq!(f.series(&[&long, "", &other]), Some(&OwnedValue::Gauge(1)));
    assert_eq!(f.series(&[&long, &other, ""]), Some(&OwnedValue::Gauge(2)));
}

#[test]
fn re_registering_an_identical_description_returns_the_same_family() {
    let registry = Registry::new();
    let c1 = registry
        .counter(Desc::new("c_total", "h").labels(["k"]))
        .unwrap();
    // With or without `_total`, it is the same counter family.
    let c2 = registry.counter(Desc::new("c", "h").labels(["k"])).unwrap();
    c1.with_labels(&["v"]).unwrap().add(4);
    c2.with_labels(&["v"]).unwrap().add(5);
    assert_eq!(c1.with_labels(&["v"]).unwrap().value(), 9);

    let g1 = registry.gauge(Desc::new("g", "h")).unwrap();
    let g2 = registry.gauge(Desc::new("g", "h")).unwrap();
    g1.with_labels(&[]).unwrap().set(-3);
    assert_eq!(g2.with_labels(&[]).unwrap().value(), -3);

    let fg1 = registry.float_gauge(Desc::new("fg", "h")).unwrap();
    let fg2 = registry.float_gauge(Desc::new("fg", "h")).unwrap();
    fg1.with_labels(&[]).unwrap().set(0.5);
    assert_eq!(fg2.with_labels(&[]).unwrap().value(), 0.5);

    let buckets = Buckets::new([1.0, 2.0]).unwrap();
    let h1 = registry
        .histogram(Desc::new("h", "h"), buckets.clone())
        .unwrap();
    // A trailing +Inf is the same layout.
    let with_inf = Buckets::new([1.0, 2.0, f64::INFINITY]).unwrap();
    let h2 = registry.histogram(Desc::new("h", "h"), with_inf).unwrap();
    h1.with_labels(&[]).unwrap().observe(1.5);
    h2.with_labels(&[]).unwrap().observe(0.5);
    assert_eq!(h1.with_labels(&[]).unwrap().count(), 2);

    let f1 = registry.fixed_counter(Desc::new("money", "h"), 2).unwrap();
    let f2 = registry
        .fixed_counter(Desc::new("money_total", "h"), 2)
        .unwrap();
    f1.with_labels(&[]).unwrap().add(1.25);
    f2.with_labels(&[]).unwrap().add(0.75);
    assert_eq!(f1.with_labels(&[]).unwrap().units(), 200);

    let snapshot = registry.snapshot();
    let names: Vec<&str> = snapshot.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["c", "g", "fg", "h", "money"]);
    assert_eq!(snapshot.family("c").unwrap().series.len(), 1);
    assert_eq!(common::histogram(&registry, "h", &[]), (vec![1, 2, 2], 2.0));
}

#[test]
fn family_reports_its_name_and_label_names() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("req_total", "h").labels(["route", "code"]))
        .unwrap();
    assert_eq!(family.name(), "req");
    assert_eq!(family.label_names().len(), 2);
    assert_eq!(family.label_names().collect::<Vec<_>>(), ["route", "code"]);
    let gauge = registry.gauge(Desc::new("g_total", "h")).unwrap();
    // Only counters drop `_total`.
    assert_eq!(gauge.name(), "g_total");
    assert_eq!(gauge.label_names().len(), 0);
}

#[test]
fn two_registries_never_see_each_other() {
    let a = Registry::new();
    let b = Registry::new();
    let buckets = Buckets::new([1.0]).unwrap();
    let ca = a.counter(Desc::new("c", "h").labels(["k"])).unwrap();
    let cb = b.counter(Desc::new("c", "h").labels(["k"])).unwrap();
    let ha = a.histogram(Desc::new("h", "h"), buckets.clone()).unwrap();
    let hb = b.histogram(Desc::new("h", "h"), buckets).unwrap();
    let ga = a.gauge(Desc::new("g", "h")).unwrap();
    let gb = b.gauge(Desc::new("g", "h")).unwrap();
    ca.with_labels(&["v"]).unwrap().add(7);
    ha.with_labels(&[]).unwrap().observe(0.5);
    ga.with_labels(&[]).unwrap().set(11);
    cb.with_labels(&["w"]).unwrap().add(1);
    gb.with_labels(&[]).unwrap().set(-1);
    hb.with_labels(&[]).unwrap().observe(5.0);
    hb.with_labels(&[]).unwrap().observe(6.0);

    assert_eq!(common::counter(&a, "c", &["v"]), 7);
    assert_eq!(common::counter(&b, "c", &["w"]), 1);
    assert!(a.snapshot().family("c").unwrap().series(&["w"]).is_none());
    assert!(b.snapshot().family("c").unwrap().series(&["v"]).is_none());
    assert_eq!(common::histogram(&a, "h", &[]), (vec![1, 1], 0.5));
    assert_eq!(common::histogram(&b, "h", &[]), (vec![0, 2], 11.0));
    assert_eq!(common::value(&a, "g", &[]), OwnedValue::Gauge(11));
    assert_eq!(common::value(&b, "g", &[]), OwnedValue::Gauge(-1));

    // A registration in one does not conflict with the same name in the other.
    b.gauge(Desc::new("only_b", "h")).unwrap();
    a.counter(Desc::new("only_b", "h")).unwrap();
    assert_eq!(a.snapshot().families.len(), 4);
    assert_eq!(b.snapshot().families.len(), 4);
}

#[test]
fn a_cloned_registry_is_the_same_registry() {
    let registry = Registry::new();
    let clone = registry.clone();
    clone
        .counter(Desc::new("c", "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap()
        .add(2);
    assert_eq!(common::counter(&registry, "c", &[]), 2);
    assert_eq!(registry.snapshot(), clone.snapshot());
    assert!(registry.gauge(Desc::new("c", "h")).is_err());
}

#[test]
fn concurrent_first_resolutions_of_a_tuple_create_one_series() {
    let registry = Registry::new();
    let family = registry.counter(Desc::new("c", "h").labels(["k"])).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..200u64 {
                    family.with_labels(&[&(i % 50).to_string()]).unwrap().inc();
                }
            });
        }
    });
    let snapshot = registry.snapshot();
    let series = &snapshot.family("c").unwrap().series;
    assert_eq!(series.len(), 50);
    for s in series {
        // 4 threads x 200 / 50 tuples.
        assert_eq!(s.value, OwnedValue::Counter(16), "{:?}", s.labels);
    }
}

#[test]
fn handles_outlive_their_family_and_registry() {
    let counter = {
        let registry = Registry::new();
        let family = registry.counter(Desc::new("c", "h")).unwrap();
        family.with_labels(&[]).unwrap()
    };
    counter.add(3);
    let local = counter.local();
    local.inc();
    assert_eq!(counter.value(), 4);
}

#[test]
fn recording_by_label_values_on_every_call_reaches_the_same_series_as_handles() {
    let registry = Registry::new();
    let requests = registry
        .counter(Desc::new("requests_total", "Requests.").labels(["route", "status"]))
        .unwrap();
    let latency = registry
        .histogram(
            Desc::new("latency_seconds", "Latency.").labels(["route"]),
            abacus::Buckets::new([0.1, 1.0]).unwrap(),
        )
        .unwrap();
    let routes = ["chat", "code", "embed"];
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| {
                for i in 0..3_000 {
                    let route = routes[i % 3];
                    requests.inc(&[route, "200"]).unwrap();
                    requests.add(&[route, "500"], 2).unwrap();
                    latency.observe(&[route], 0.5).unwrap();
                }
            });
        }
    });
    // 2 threads x 1,000 calls per route.
    for route in routes {
        assert_eq!(
            requests.with_labels(&[route, "200"]).unwrap().value(),
            2_000
        );
        assert_eq!(
            requests.with_labels(&[route, "500"]).unwrap().value(),
            4_000
        );
        assert_eq!(latency.with_labels(&[route]).unwrap().count(), 2_000);
    }
    assert_eq!(
        requests.inc(&["chat"]).unwrap_err(),
        abacus::Error::LabelCount {
            family: "requests".into(),
            expected: 2,
            got: 1
        }
    );
}

#[test]
fn per_call_recording_tells_families_and_registries_apart() {
    // The per-thread memory of resolutions is keyed by family: the same values in two
    // families, or two registries, must land in their own series.
    let (first, second) = (Registry::new(), Registry::new());
    let a = first
        .counter(Desc::new("a_total", "A.").labels(["x"]))
        .unwrap();
    let b = first
        .counter(Desc::new("b_total", "B.").labels(["x"]))
        .unwrap();
    let other = second
        .counter(Desc::new("a_total", "A.").labels(["x"]))
        .unwrap();
    for _ in 0..5 {
        a.inc(&["v"]).unwrap();
        b.add(&["v"], 10).unwrap();
        other.add(&["v"], 100).unwrap();
    }
    assert_eq!(a.with_labels(&["v"]).unwrap().value(), 5);
    assert_eq!(b.with_labels(&["v"]).unwrap().value(), 50);
    assert_eq!(other.with_labels(&["v"]).unwrap().value(), 500);
}

#[test]
fn per_call_recording_keeps_working_past_the_thread_memory_capacity() {
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("t_total", "T.").labels(["tenant"]))
        .unwrap();
    // More distinct values than a thread remembers, twice over, so the memory starts over.
    let tenants: Vec<String> = (0..10_000).map(|i| format!("tenant-{i}")).collect();
    for _ in 0..2 {
        for tenant in &tenants {
            family.inc(&[tenant]).unwrap();
        }
    }
    for tenant in tenants.iter().step_by(997) {
        assert_eq!(
            family.with_labels(&[tenant]).unwrap().value(),
            2,
            "{tenant}"
        );
    }
    assert_eq!(registry.snapshot().families[0].series.len(), 10_000);
}

#[test]
fn per_call_recording_rereads_a_buffer_rewritten_in_place() {
    // The thread remembers tuples by the addresses of their strings too; a buffer reused
    // with new text of the same length sits at the same address and must still reach the
    // series of its new text.
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("t_total", "T.").labels(["tenant", "route"]))
        .unwrap();
    let mut tenant = String::from("tenant-a");
    let route = String::from("/v1/chat/completions");
    for round in 0..3 {
        family.inc(&[&tenant, &route]).unwrap();
        tenant.replace_range(.., "tenant-b");
        family.add(&[&tenant, &route], 10).unwrap();
        tenant.replace_range(.., "tenant-a");
        assert_eq!(
            family.with_labels(&["tenant-a", &route]).unwrap().value(),
            round + 1
        );
    }
    assert_eq!(
        family
            .with_labels(&["tenant-b", "/v1/chat/completions"])
            .unwrap()
            .value(),
        30
    );
}

#[test]
fn per_call_recording_compares_every_byte_of_values_of_every_length() {
    // Values from 0 to 40 bytes, each against twins that differ in one byte only (first,
    // middle or last), so that each length's comparison must look at every position.
    let registry = Registry::new();
    let family = registry
        .counter(Desc::new("v_total", "V.").labels(["v"]))
        .unwrap();
    let mut expected = std::collections::HashMap::new();
    for len in 0..=40usize {
        let base = "a".repeat(len);
        let mut variants = vec![base.clone()];
        for position in [0, len / 2, len.saturating_sub(1)] {
            if len > 0 {
                let mut bytes = base.clone().into_bytes();
                bytes[position] = b'b';
                variants.push(String::from_utf8(bytes).unwrap());
            }
        }
        variants.dedup();
        for (i, value) in variants.iter().enumerate() {
            let n = i as u64 + 1;
            // Twice through one buffer, once through a fresh copy at another address.
            family.add(&[value], n).unwrap();
            family.add(&[value], n).unwrap();
            family.add(&[&value.clone()], n).unwrap();
            *expected.entry(value.clone()).or_insert(0) += 3 * n;
        }
    }
    for (value, total) in &expected {
        assert_eq!(
            family.with_labels(&[value]).unwrap().value(),
            *total,
            "{value:?}"
        );
    }
    assert_eq!(registry.snapshot().families[0].series.len(), expected.len());
}

#[test]
fn per_call_recording_tells_apart_values_rewritten_in_place_at_every_byte() {
    // One buffer per length, rewritten in place so that every call finds the previous
    // text's memory under the same address: for each position, a text that differs from
    // the last one in that byte alone must reach its own series. The buffer is the middle
    // of three values, and the last of six, past the ones the address table holds.
    rewrite_in_place_at_every_byte(&["GET"], &["/api/v1/users/:id"]);
    rewrite_in_place_at_every_byte(&["GET", "200", "eu-west-1", "/api/v1/users/:id", "x"], &[]);
}

fn rewrite_in_place_at_every_byte(before: &[&str], after: &[&str]) {
    let registry = Registry::new();
    let names: Vec<String> = (0..before.len() + 1 + after.len())
        .map(|i| format!("l{i}"))
        .collect();
    let family = registry
        .counter(Desc::new("w_total", "W.").labels(names))
        .unwrap();
    let tuple = |value: &str| -> Vec<String> {
        let mut tuple: Vec<String> = before.iter().map(|v| v.to_string()).collect();
        tuple.push(value.to_string());
        tuple.extend(after.iter().map(|v| v.to_string()));
        tuple
    };
    let mut expected = std::collections::HashMap::<String, u64>::new();
    let mut weight = 0;
    for len in 0..=40usize {
        let mut buffer = "a".repeat(len);
        for position in 0..len.max(1) {
            for byte in [b'a', b'b', b'a'] {
                if len > 0 {
                    // Both bytes are ASCII, so the text stays UTF-8 and keeps its length.
                    buffer.replace_range(position..position + 1, &(byte as char).to_string());
                }
                weight += 1;
                let mut values: Vec<&str> = before.to_vec();
                values.push(&buffer);
                values.extend_from_slice(after);
                family.add(&values, weight).unwrap();
                *expected.entry(buffer.clone()).or_default() += weight;
            }
        }
    }
    for (value, total) in &expected {
        let values = tuple(value);
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(
            family.with_labels(&values).unwrap().value(),
            *total,
            "{value:?}"
        );
    }
    assert_eq!(registry.snapshot().families[0].series.len(), expected.len());
}
