//! Path parameters captured by a route match (`:name` segments), stored inline for the common
//! case of up to four, so `find` does not allocate.

const INLINE_PARAMS: usize = 4;

/// `:param` captures of a match, in pattern order. Up to four are stored inline
/// (no heap allocation); more spill to a `Vec`.
#[derive(Debug, Clone, Default)]
pub struct Params<'t, 'p> {
    inline: [(&'t str, &'p str); INLINE_PARAMS],
    len: usize,
    spill: Vec<(&'t str, &'p str)>,
}

impl<'t, 'p> Params<'t, 'p> {
    pub(super) fn new() -> Self {
        Self::default()
    }

    pub(super) fn push(&mut self, name: &'t str, value: &'p str) {
        if let Some(slot) = self.inline.get_mut(self.len) {
            *slot = (name, value);
        } else {
            self.spill.push((name, value));
        }
        self.len += 1;
    }

    /// The value captured for `:name`.
    pub fn get(&self, name: &str) -> Option<&'p str> {
        self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// `(name, value)` pairs in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&'t str, &'p str)> + '_ {
        let inline = &self.inline[..self.len.min(INLINE_PARAMS)];
        inline.iter().chain(&self.spill).copied()
    }
}
