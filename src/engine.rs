//! The wasmtime engines: the serving engine (pooling allocator sized for the requests alive at
//! once, memories kept partly resident between requests), the job engine (instances allocated
//! on demand), and the epoch that CPU deadlines are counted in.

use anyhow::{Context, Result};
use std::time::Duration;
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the epoch advances; the CPU deadline is counted in these ticks.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The epoch deadline for a CPU budget of `deadline`: whole ticks, plus one, because the tick
/// in progress when the store starts may end at once; so a guest always gets its whole budget
/// (and at most one tick more).
pub fn deadline_ticks(deadline: Duration) -> u64 {
    (deadline.as_millis() / EPOCH_TICK.as_millis()) as u64 + 1
}

/// How often a running guest yields to the async runtime, in epoch ticks: every tick (10 ms).
/// A guest that runs longer than that hands its worker to the other tasks waiting (requests,
/// the job trigger's work) between ticks, at the cost of one poll per tick; guests that finish
/// within a tick (nearly every request) never yield.
pub const YIELD_TICKS: u64 = 1;

/// What an epoch-deadline callback answers while a guest has `left` ticks of its budget: yield
/// to the tokio scheduler (to the back of its queue, `tokio::task::yield_now`, as wasmtime
/// advises for tokio), then run until the next [`YIELD_TICKS`], or until the budget's end if
/// sooner.
pub fn yield_then_continue(left: u64) -> wasmtime::UpdateDeadline {
    wasmtime::UpdateDeadline::YieldCustom(left.clamp(1, YIELD_TICKS), Box::pin(tokio::task::yield_now()))
}

/// Advances `engine`'s epoch every [`EPOCH_TICK`] on a thread that lives as long as the process.
pub fn start_epoch_ticker(engine: Engine) {
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(EPOCH_TICK);
            engine.increment_epoch();
        }
    });
}

/// What one request's store may take from the pooling allocator at most. A composed gateway
/// is a handful of components, core instances, memories and tables; the lazily plugged
/// compiler adds a component instance, and a call into it a second fiber stack.
mod per_request {
    pub const COMPONENT_INSTANCES: u32 = 4;
    pub const CORE_INSTANCES: u32 = 16;
    pub const MEMORIES: u32 = 4;
    pub const TABLES: u32 = 8;
    pub const STACKS: u32 = 2;
}

/// Address space one linear memory slot of the pool reserves: wasmtime's default 4 GiB
/// reservation (so that bounds checks are elided) plus its 32 MiB guard. Reserved, not
/// committed: only the pages a guest touches use memory.
const MEMORY_SLOT_RESERVATION: u64 = (4 << 30) + (32 << 20);

/// Whether this is Linux `major.minor` or later (from `/proc/sys/kernel/osrelease`).
fn linux_at_least(major: u32, minor: u32) -> bool {
    let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") else { return false };
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (a, b) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (a, b) >= (major, minor)
}

/// The wasmtime engine, configured for serving: async, epoch interruption, pooling allocator
/// sized for `max_instances` requests alive at once, each with linear memories of at most
/// `memory_bytes`.
pub fn serving_engine(max_instances: usize, memory_bytes: usize) -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let n = u32::try_from(max_instances).unwrap_or(u32::MAX);
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(n.saturating_mul(per_request::COMPONENT_INSTANCES));
    pool.total_core_instances(n.saturating_mul(per_request::CORE_INSTANCES));
    pool.total_memories(n.saturating_mul(per_request::MEMORIES));
    pool.total_tables(n.saturating_mul(per_request::TABLES));
    pool.total_stacks(n.saturating_mul(per_request::STACKS));
    pool.max_memories_per_component(8);
    pool.max_memory_size(memory_bytes);
    // Resetting a slot's memory is most of an instance's cost. The first MiB of each memory
    // (a Rust guest's stack, its data and its hot heap) stays resident: on Linux 6.7+ the
    // PAGEMAP_SCAN ioctl finds the pages a request dirtied and only those are reset, so the
    // next request neither page-faults them back in nor pays a TLB shootdown for their
    // madvise (measured: /healthz 1.03x -> 1.35x the floor, a subscription 304 0.72x -> 1.13x).
    // Without the ioctl the whole resident part would be reset with memset on every request,
    // so it is then kept at 128 KiB (the measured best without it). Madvise calls are batched.
    pool.decommit_batch_size(32);
    let pagemap_scan = linux_at_least(6, 7);
    pool.linear_memory_keep_resident(if pagemap_scan { 1024 * 1024 } else { 128 * 1024 });
    pool.pagemap_scan(if pagemap_scan { wasmtime::Enabled::Auto } else { wasmtime::Enabled::No });
    pool.table_keep_resident(64 * 1024);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let reserved_gib = (u64::from(n.saturating_mul(per_request::MEMORIES)) * MEMORY_SLOT_RESERVATION) >> 30;
    tracing::info!(instances = n, reserved_gib, "instance pool (linear memories reserve address space only)");
    Engine::new(&config).map_err(anyhow::Error::from).with_context(|| {
        format!(
            "creating the instance pool for {n} instances ({reserved_gib} GiB of address space; lower --max-instances)"
        )
    })
}

/// The engine compile jobs run on: epoch interruption, instances allocated on demand (jobs are
/// few and may use much more memory than requests).
pub fn job_engine() -> Result<Engine> {
    let mut config = Config::new();
    config.epoch_interruption(true);
    Ok(Engine::new(&config)?)
}
