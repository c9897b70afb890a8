//! The three-label group `measured` needs for the render and memory benches, shared by
//! both (`#[path]` modules: each bench target is its own crate).

use measured::lasso::ThreadedRodeo;

#[derive(Clone, Copy, measured::LabelGroup)]
#[label(set = ThreeSet)]
pub(crate) struct Three<'a> {
    #[label(dynamic_with = ThreadedRodeo, default)]
    pub(crate) tenant: &'a str,
    #[label(dynamic_with = ThreadedRodeo, default)]
    pub(crate) route: &'a str,
    #[label(dynamic_with = ThreadedRodeo, default)]
    pub(crate) status: &'a str,
}

pub(crate) fn three(values: &[String; 3]) -> Three<'_> {
    Three {
        tenant: &values[0],
        route: &values[1],
        status: &values[2],
    }
}
