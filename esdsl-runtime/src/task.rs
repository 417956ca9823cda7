//! Store work and async runtimes: running a blocking piece of it off the executor, and keeping
//! a blocking loop (a projection runner) from taking an executor thread.

/// Runs `work` on tokio's blocking pool and awaits it: the executor thread goes on with other
/// tasks meanwhile. A panic in `work` resumes in the caller, as if it had run inline.
///
/// # Errors
///
/// `work`'s own; [`Error::Cancelled`](crate::Error::Cancelled) when the runtime shut down
/// before `work` could start.
#[cfg(feature = "tokio")]
pub(crate) async fn off_executor<T, F>(work: F) -> crate::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> crate::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => result,
        Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
        Err(_) => Err(crate::Error::Cancelled),
    }
}

/// Runs a blocking loop where it cannot starve an executor: called on a worker thread of a
/// multi-threaded tokio runtime, the worker hands its other tasks to a new thread first
/// (`tokio::task::block_in_place`); on a thread of tokio's blocking pool, or outside any
/// runtime, it simply runs.
///
/// # Panics
///
/// Called from a current-thread runtime's own thread (inside `block_on` or a task), where
/// nothing can take over its other tasks: tokio panics with "can call blocking only when
/// running on the multi-threaded runtime". Run the loop with the async entry point instead.
pub(crate) fn blocking_loop<T>(work: impl FnOnce() -> T) -> T {
    #[cfg(feature = "tokio")]
    if tokio::runtime::Handle::try_current().is_ok() {
        return tokio::task::block_in_place(work);
    }
    work()
}

/// Runs a future whose every await is ready at once (code written once as `async` over I/O
/// that, for the blocking API, is done before each future is made).
///
/// # Panics
///
/// If the future is pending at its first poll: its caller broke that promise.
pub(crate) fn run_ready<F: std::future::Future>(future: F) -> F::Output {
    let mut future = std::pin::pin!(future);
    let mut context = std::task::Context::from_waker(std::task::Waker::noop());
    match future.as_mut().poll(&mut context) {
        std::task::Poll::Ready(output) => output,
        std::task::Poll::Pending => {
            unreachable!("every future of the blocking I/O is ready at its first poll")
        }
    }
}
