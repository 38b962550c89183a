//! The layers every request passes before (and after) its handler, in request order: `edge`
//! (request id, timeout, error envelope, security headers, log, metrics) → `shield` (client IP,
//! Host allow-list, CSRF/Origin, API rate limit, with the counters of `limits`) → `enforce`
//! (the route table's auth mode and permission). `extract`, `cookie` and `attempt` are what
//! handlers use to read the caller, set cookies and throttle secret checks.

pub(crate) mod attempt;
pub(crate) mod cookie;
pub(crate) mod edge;
pub(crate) mod enforce;
pub(crate) mod extract;
pub mod limits;
pub mod shield;
