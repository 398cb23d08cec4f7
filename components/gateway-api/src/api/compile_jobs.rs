//! Compile jobs: intake (`POST /v1/lists/{id}/compile`), status, the dead-letter list, replay.

use super::*;

/// `POST /v1/lists/{id}/compile`: one job per list revision and dedupe window
/// ([`job_ledger::request_compile`]).
pub(crate) fn request_compile(user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    let list = owned_list(user, lists, id)?;
    let window_ms = settings.dedupe_secs.saturating_mul(1000);
    let requested = job_ledger::request_compile(lists, &settings.jobs, &list, JobCause::Manual, window_ms, now_ms())?;
    Ok(match requested {
        job_ledger::Requested::AlreadyQueued(job_id) => {
            Response::json(202, &CompileAccepted { status: "already_queued", job_id: &job_id, list_id: id })
        }
        job_ledger::Requested::Queued(job_id) => {
            Response::json(202, &CompileAccepted { status: "queued", job_id: &job_id, list_id: id })
                .with_header("location", format!("/v1/jobs/{job_id}"))
        }
    })
}

pub(crate) fn owned_job(user: &User, lists: &Kv, id: &str) -> Result<JobRecord> {
    match job_ledger::get(lists, id)? {
        Some(job) if job.user_id == user.id => Ok(job),
        // Another user's job is indistinguishable from a missing one.
        _ => Err(ApiError::not_found(format!("job {id} not found"))),
    }
}

pub(crate) fn get_job(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    Ok(Response::json(200, &JobView::of(&owned_job(user, lists, id)?)))
}

/// `GET /v1/jobs?status=dead`: the caller's dead-letter list, oldest first.
/// Checks the query of `GET /v1/jobs`: `status=dead` (the dead-letter list), nothing else.
pub(crate) fn check_dead_list_query(query: &str) -> Result<()> {
    let mut status = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some(("status", v)) => status = Some(v),
            _ => return Err(ApiError::bad_request(format!("unknown query parameter {pair:?}; use status=dead"))),
        }
    }
    if status != Some("dead") {
        return Err(ApiError::bad_request("list jobs with `?status=dead` (the dead-letter list)"));
    }
    Ok(())
}

pub(crate) fn list_jobs(req: &Request, user: &User, lists: &Kv) -> Result<Response> {
    check_dead_list_query(&req.query)?;
    let mut dead = Vec::new();
    for id in job_ledger::dead_ids(lists, &user.id)? {
        if let Some(job) = job_ledger::get(lists, &id)?
            && job.user_id == user.id
            && job.status == JobStatus::Dead
        {
            dead.push(job);
        }
    }
    Ok(Response::json(200, &JobsPage { jobs: dead.iter().map(JobView::of).collect() }))
}

/// `GET /v1/lists/{id}/jobs`: the list's jobs, newest first: the one its compile lock holds
/// (while it runs), then the finished ones retention keeps.
pub(crate) fn list_jobs_of_list(user: &User, lists: &Kv, id: &str) -> Result<Response> {
    owned_list(user, lists, id)?;
    let mut ids: Vec<String> = lists.get_json::<Vec<String>>(&list_jobs_key(id))?.unwrap_or_default();
    ids.reverse();
    if let Ok(Some(lock)) = lists.get_json::<CompileLock>(&compile_lock_key(id))
        && !lock.job_id.is_empty()
        && !ids.contains(&lock.job_id)
    {
        ids.insert(0, lock.job_id);
    }
    let mut jobs = Vec::new();
    for job_id in ids {
        if let Some(job) = job_ledger::get(lists, &job_id)?
            && job.user_id == user.id
            && job.list_id == id
        {
            jobs.push(job);
        }
    }
    Ok(Response::json(200, &JobsPage { jobs: jobs.iter().map(JobView::of).collect() }))
}

/// `POST /v1/jobs/{id}/replay`: a dead job back to the queue with fresh attempts.
pub(crate) fn replay_job(user: &User, settings: &Settings, lists: &Kv, id: &str) -> Result<Response> {
    let job = owned_job(user, lists, id)?;
    if live_list(lists, &job.list_id)?.is_none() {
        return Err(ApiError::new(409, "list_deleted", format!("list {} of job {id} was deleted", job.list_id)));
    }
    let now = now_ms();
    let Some(replayed) = job_ledger::update(lists, id, |j| j.replay(now, &settings.jobs.policy))? else {
        let status = job_ledger::get(lists, id)?.map_or(job.status, |j| j.status);
        return Err(ApiError::new(
            409,
            "not_dead",
            format!("job {id} is {}, not dead: only dead jobs are replayed", status.name()),
        ));
    };
    job_ledger::replayed(lists, &replayed)?;
    if let Err(e) = job_ledger::publish(&settings.jobs, &job_ledger::Message::Compile { job_id: id.to_owned() }) {
        eprintln!("replayed job {id} was not published ({e}); the sweeper will");
    }
    Ok(Response::json(202, &JobView::of(&replayed)).with_header("location", format!("/v1/jobs/{id}")))
}

/// `POST /v1/admin/refresh` (admin): requests the compiles of every list whose refresh is due
/// now, as the sweeper does; for an external scheduler (a Kubernetes CronJob, a cron line with
/// curl) where no sweeper runs on a timer (Spin).
pub(crate) fn run_refreshes(caller: &Caller, settings: &Settings, lists: &Kv) -> Result<Response> {
    caller.require_admin()?;
    let report = edge_store::schedule::run_due(lists, &settings.jobs, now_ms())?;
    let view =
        RefreshView { scheduled: report.scheduled, queued: &report.queued, already_queued: report.already_queued };
    Ok(Response::json(200, &view))
}
