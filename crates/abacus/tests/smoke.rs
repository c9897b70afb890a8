use abacus::{Buckets, Desc, OwnedValue, Registry};

#[test]
fn threads_exit_and_values_survive() {
    let r = Registry::new();
    let c = r
        .counter(Desc::new("c_total", "h"))
        .unwrap()
        .with_labels(&[])
        .unwrap();
    let h = r
        .histogram(Desc::new("h", "h"), Buckets::new([1.0, 2.0]).unwrap())
        .unwrap()
        .with_labels(&[])
        .unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for i in 0..1000 {
                    c.inc();
                    h.observe((i % 3) as f64);
                }
                let l = c.local();
                l.add(10);
            });
        }
    });
    assert_eq!(c.value(), 4040);
    assert_eq!(h.count(), 4000);
    let snap = r.snapshot();
    println!("{snap:?}");
    match snap.family("h").unwrap().series(&[]).unwrap() {
        OwnedValue::Histogram { cumulative, sum } => {
            assert_eq!(cumulative.last(), Some(&4000));
            assert_eq!(*sum, 4.0 * (333.0 * 1.0 + 333.0 * 2.0));
        }
        _ => panic!(),
    }
}
