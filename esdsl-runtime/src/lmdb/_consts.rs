/// Events read per read transaction when iterating.
const PAGE: usize = 256;
/// Events replayed per read transaction by `replay_stream` (no copies are buffered, so a page
/// can be longer than an iterator's; 1,024 JSON events take about 0.2 ms).
const REPLAY_PAGE: usize = 1024;
/// Records looked at per read transaction when a filter skips most of them.
const SCAN_PAGE: usize = 4096;
/// Snapshots kept per stream.
const KEPT_SNAPSHOTS: usize = 3;

