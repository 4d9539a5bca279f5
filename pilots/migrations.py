"""The schema, as named, append-only migrations (sqlite-utils' built-in `Migrations`).

A released migration is never edited: a change to the schema is a new function at
the end of this file. `flask --app pilots migrate` applies what is pending; a test
applies all of them to an empty database.
"""

from __future__ import annotations

from sqlite_utils import Migrations

migrations = Migrations("pilots")


@migrations(name="0001_organisation")
def organisation(db):
    db.execute(
        """
        CREATE TABLE unit (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            slug TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL CHECK (kind IN ('municipality','sector','service','team')),
            parent_id INTEGER REFERENCES unit(id),
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX unit_parent ON unit(parent_id)")
    db.execute(
        """
        CREATE TABLE users (
            id INTEGER PRIMARY KEY,
            email TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            language TEXT CHECK (language IN ('nb','en')),
            active INTEGER NOT NULL DEFAULT 1,
            session_version INTEGER NOT NULL DEFAULT 1,
            created_at TEXT NOT NULL,
            last_login_at TEXT
        )"""
    )
    db.execute(
        """
        CREATE TABLE role (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            role TEXT NOT NULL
                CHECK (role IN ('frontline','leader','analyst','case_handler','admin')),
            unit_id INTEGER REFERENCES unit(id),
            CHECK ((role IN ('frontline','leader')) = (unit_id IS NOT NULL))
        )"""
    )
    # NULL unit_ids are distinct in a UNIQUE index, so unit-less roles get their own.
    db.execute("CREATE UNIQUE INDEX role_unique ON role(user_id, role, unit_id)")
    db.execute(
        "CREATE UNIQUE INDEX role_unique_global ON role(user_id, role) WHERE unit_id IS NULL"
    )


@migrations(name="0002_user_session")
def user_session(db):
    db.execute(
        """
        CREATE TABLE user_session (
            token_hash TEXT PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            session_version INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            revoked_at TEXT
        )"""
    )
    db.execute("CREATE INDEX user_session_user ON user_session(user_id)")


@migrations(name="0003_audit_event")
def audit_event(db):
    db.execute(
        """
        CREATE TABLE audit_event (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor_id INTEGER,
            actor_role TEXT,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL,
            object_id TEXT,
            before TEXT,
            after TEXT,
            reason TEXT,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )"""
    )
    db.execute(
        """
        CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
        BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"""
    )
    db.execute(
        """
        CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
        BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"""
    )


@migrations(name="0004_metrics_and_pilots")
def metrics_and_pilots(db):
    db.execute(
        """
        CREATE TABLE metric (
            id INTEGER PRIMARY KEY,
            slug TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            definition TEXT NOT NULL DEFAULT '',
            unit TEXT NOT NULL DEFAULT '',
            type TEXT NOT NULL CHECK (type IN ('mean','proportion','rate')),
            direction TEXT NOT NULL CHECK (direction IN ('up','down')),
            period TEXT NOT NULL DEFAULT 'month'
                CHECK (period IN ('day','week','month','quarter','year')),
            min_value REAL,
            max_value REAL,
            owner TEXT NOT NULL DEFAULT '',
            data_source TEXT NOT NULL DEFAULT '',
            burden_minutes REAL NOT NULL DEFAULT 0,
            decision TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active','retired')),
            created_by INTEGER REFERENCES users(id),
            created_at TEXT NOT NULL,
            CHECK (min_value IS NULL OR max_value IS NULL OR min_value < max_value)
        )"""
    )
    for column, kind in [
        ("trust_max_days", "INTEGER"),
        ("trust_max_citizens", "INTEGER"),
        ("trust_max_cost", "REAL"),
        ("trust_excluded_risks", "TEXT"),  # JSON list of risk flags that rule trust out
        ("trust_auto_days", "INTEGER"),  # days until a pilot inside the envelope is approved
    ]:
        db.execute(f"ALTER TABLE unit ADD COLUMN {column} {kind}")
    db.execute(
        """
        CREATE TABLE pilot (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            team_id INTEGER NOT NULL REFERENCES unit(id),
            status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN
                ('draft','submitted','approved','running','paused','stopped','concluded')),
            idea_id INTEGER,
            idea_text TEXT NOT NULL DEFAULT '',
            aim TEXT NOT NULL DEFAULT '',
            need TEXT NOT NULL DEFAULT '',
            hypothesis TEXT NOT NULL DEFAULT '',
            prediction TEXT NOT NULL DEFAULT '',
            stop_doing TEXT NOT NULL DEFAULT '',
            scope TEXT NOT NULL DEFAULT '',
            citizens_involved INTEGER,
            cost REAL,
            risk_flags TEXT NOT NULL DEFAULT '[]',
            co_creators TEXT NOT NULL DEFAULT '',
            start_date TEXT,
            end_date TEXT,
            design TEXT CHECK (design IN ('spc','pre_post','two_group','did')),
            baseline TEXT NOT NULL DEFAULT '',
            comparison TEXT NOT NULL DEFAULT '',
            planned_n INTEGER,
            cadence TEXT NOT NULL DEFAULT 'monthly'
                CHECK (cadence IN ('weekly','monthly','custom')),
            cadence_rule TEXT NOT NULL DEFAULT '',
            approved_version INTEGER,
            auto_approve_at TEXT,
            objection TEXT,
            status_reason TEXT,
            decision TEXT CHECK (decision IN ('adopt','adapt','abandon')),
            learned TEXT,
            next_steps TEXT,
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX pilot_team ON pilot(team_id)")
    db.execute("CREATE INDEX pilot_status ON pilot(status)")
    db.execute(
        """
        CREATE TABLE pilot_metric (
            id INTEGER PRIMARY KEY,
            pilot_id INTEGER NOT NULL REFERENCES pilot(id) ON DELETE CASCADE,
            metric_id INTEGER NOT NULL REFERENCES metric(id),
            role TEXT NOT NULL CHECK (role IN ('primary','secondary','balancing')),
            minimal_important_difference REAL,
            dropped_in_version INTEGER,
            UNIQUE (pilot_id, metric_id)
        )"""
    )
    db.execute(
        """
        CREATE TABLE plan_version (
            id INTEGER PRIMARY KEY,
            pilot_id INTEGER NOT NULL REFERENCES pilot(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            plan TEXT NOT NULL,
            hash TEXT NOT NULL,
            reason TEXT,
            state TEXT NOT NULL CHECK (state IN ('proposed','approved','returned','withdrawn')),
            proposed_by INTEGER NOT NULL REFERENCES users(id),
            proposed_at TEXT NOT NULL,
            decided_by INTEGER REFERENCES users(id),
            decided_at TEXT,
            comment TEXT,
            automatic INTEGER NOT NULL DEFAULT 0,
            UNIQUE (pilot_id, number)
        )"""
    )
    db.execute(
        """
        CREATE TABLE pdsa_cycle (
            id INTEGER PRIMARY KEY,
            pilot_id INTEGER NOT NULL REFERENCES pilot(id) ON DELETE CASCADE,
            number INTEGER NOT NULL,
            started_on TEXT NOT NULL,
            plan TEXT NOT NULL,
            prediction TEXT NOT NULL DEFAULT '',
            done TEXT NOT NULL DEFAULT '',
            studied TEXT NOT NULL DEFAULT '',
            act TEXT CHECK (act IN ('adopt','adapt','abandon')),
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            UNIQUE (pilot_id, number)
        )"""
    )
    db.execute(
        """
        CREATE TABLE api_token (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            token_hash TEXT NOT NULL UNIQUE,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            revoked_at TEXT
        )"""
    )


@migrations(name="0100_stories_and_ideas")
def stories_and_ideas(db):
    # How many days leaders of a unit have to answer a proposed idea.
    db.execute("ALTER TABLE unit ADD COLUMN answer_days INTEGER NOT NULL DEFAULT 30")
    db.execute(
        """
        CREATE TABLE story (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            account TEXT NOT NULL,
            needed TEXT NOT NULL DEFAULT '',
            happened TEXT NOT NULL DEFAULT '',
            services TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL CHECK (source IN
                ('conversation','user_council','complaint','leader_gathering','survey')),
            consent_how TEXT NOT NULL CHECK (consent_how IN ('oral','written','digital')),
            consent_on TEXT NOT NULL,
            tags TEXT NOT NULL DEFAULT '',
            unit_id INTEGER NOT NULL REFERENCES unit(id),
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            withdrawn_at TEXT,
            withdrawn_by INTEGER REFERENCES users(id)
        )"""
    )
    db.execute("CREATE INDEX story_unit ON story(unit_id)")
    db.execute(
        """
        CREATE TABLE story_tag (
            story_id INTEGER NOT NULL REFERENCES story(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (story_id, tag)
        )"""
    )
    db.execute(
        """
        CREATE TABLE story_pick (
            id INTEGER PRIMARY KEY,
            story_id INTEGER NOT NULL REFERENCES story(id),
            unit_id INTEGER NOT NULL REFERENCES unit(id),
            week TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            chosen_by INTEGER NOT NULL REFERENCES users(id),
            chosen_at TEXT NOT NULL,
            UNIQUE (unit_id, week)
        )"""
    )
    db.execute(
        """
        CREATE TABLE idea (
            id INTEGER PRIMARY KEY,
            title TEXT NOT NULL,
            need TEXT NOT NULL,
            whose_need TEXT NOT NULL DEFAULT '',
            proposal TEXT NOT NULL,
            stop_doing TEXT NOT NULL DEFAULT '',
            benefit TEXT NOT NULL DEFAULT '',
            risks TEXT NOT NULL DEFAULT '',
            co_creators TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '',
            unit_id INTEGER NOT NULL REFERENCES unit(id),
            status TEXT NOT NULL DEFAULT 'draft' CHECK (status IN
                ('draft','proposed','dialogue','accepted','parked','declined')),
            proposed_at TEXT,
            answer_due TEXT,
            answered_at TEXT,
            answered_by INTEGER REFERENCES users(id),
            answer_reason TEXT NOT NULL DEFAULT '',
            look_again_on TEXT,
            pilot_id INTEGER,
            created_by INTEGER NOT NULL REFERENCES users(id),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX idea_unit ON idea(unit_id)")
    db.execute("CREATE INDEX idea_status ON idea(status)")
    db.execute(
        """
        CREATE TABLE idea_author (
            idea_id INTEGER NOT NULL REFERENCES idea(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id),
            PRIMARY KEY (idea_id, user_id)
        )"""
    )
    db.execute(
        """
        CREATE TABLE idea_story (
            idea_id INTEGER NOT NULL REFERENCES idea(id) ON DELETE CASCADE,
            story_id INTEGER NOT NULL REFERENCES story(id),
            PRIMARY KEY (idea_id, story_id)
        )"""
    )
    db.execute("CREATE INDEX idea_story_story ON idea_story(story_id)")
    db.execute(
        """
        CREATE TABLE idea_tag (
            idea_id INTEGER NOT NULL REFERENCES idea(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (idea_id, tag)
        )"""
    )
    for table in ("idea_support", "idea_follow"):
        db.execute(
            f"""
            CREATE TABLE {table} (
                idea_id INTEGER NOT NULL REFERENCES idea(id) ON DELETE CASCADE,
                user_id INTEGER NOT NULL REFERENCES users(id),
                created_at TEXT NOT NULL,
                PRIMARY KEY (idea_id, user_id)
            )"""
        )
    db.execute(
        """
        CREATE TABLE idea_comment (
            id INTEGER PRIMARY KEY,
            idea_id INTEGER NOT NULL REFERENCES idea(id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL REFERENCES users(id),
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute(
        """
        CREATE TABLE idea_answer (
            id INTEGER PRIMARY KEY,
            idea_id INTEGER NOT NULL REFERENCES idea(id) ON DELETE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('dialogue','accepted','parked','declined')),
            reason TEXT NOT NULL DEFAULT '',
            look_again_on TEXT,
            pilot_id INTEGER,
            answered_by INTEGER NOT NULL REFERENCES users(id),
            answered_at TEXT NOT NULL
        )"""
    )
    # Full-text search; unicode61 without diacritic folding keeps å, ø and æ letters
    # of their own (Norwegian "år" is not "ar"), and folds case for them too.
    tokenize = "unicode61 remove_diacritics 0"
    db["story"].enable_fts(
        ["title", "account", "needed", "happened", "services", "tags"],
        fts_version="FTS5",
        create_triggers=True,
        tokenize=tokenize,
    )
    db["idea"].enable_fts(
        ["title", "need", "whose_need", "proposal", "stop_doing", "benefit", "tags"],
        fts_version="FTS5",
        create_triggers=True,
        tokenize=tokenize,
    )


@migrations(name="0200_observations")
def observations(db):
    # An upload is one import: a file, a JSON list, or a quick entry. Each observation
    # remembers the upload and line that last wrote it.
    db.execute(
        """
        CREATE TABLE upload (
            id INTEGER PRIMARY KEY,
            pilot_id INTEGER NOT NULL REFERENCES pilot(id) ON DELETE CASCADE,
            user_id INTEGER REFERENCES users(id),
            source TEXT NOT NULL CHECK (source IN ('csv','xlsx','json','entry','api')),
            filename TEXT,
            delimiter TEXT,
            decimal_mark TEXT,
            encoding TEXT,
            rows INTEGER NOT NULL DEFAULT 0,
            inserted INTEGER NOT NULL DEFAULT 0,
            updated INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        )"""
    )
    db.execute("CREATE INDEX upload_pilot ON upload(pilot_id)")
    # unit is NOT NULL ('' for none) so that the UNIQUE key, which treats NULLs as
    # distinct, makes a re-import update the row instead of adding a second one.
    db.execute(
        """
        CREATE TABLE observation (
            id INTEGER PRIMARY KEY,
            pilot_id INTEGER NOT NULL REFERENCES pilot(id) ON DELETE CASCADE,
            metric_id INTEGER NOT NULL REFERENCES metric(id),
            period TEXT NOT NULL,
            arm TEXT NOT NULL DEFAULT 'pilot' CHECK (arm IN ('pilot','comparison')),
            unit TEXT NOT NULL DEFAULT '',
            value REAL NOT NULL,
            n REAL CHECK (n IS NULL OR n > 0),
            upload_id INTEGER REFERENCES upload(id),
            source_line INTEGER,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            UNIQUE (pilot_id, metric_id, period, arm, unit)
        )"""
    )


@migrations(name="0300_indicator_register")
def indicator_register(db):
    # The clean-up register: indicators the organisation reports on sit beside pilot
    # metrics, with what they are reported in, how many teams collect them, and why and
    # by whom they were retired or merged into another.
    for column in (
        "kind TEXT NOT NULL DEFAULT 'metric' CHECK (kind IN ('metric','indicator'))",
        "reported_in TEXT NOT NULL DEFAULT ''",
        "teams_collecting INTEGER NOT NULL DEFAULT 1 CHECK (teams_collecting >= 0)",
        "retired_reason TEXT",
        "retired_at TEXT",
        "retired_by INTEGER REFERENCES users(id)",
        "merged_into_id INTEGER REFERENCES metric(id)",
    ):
        db.execute(f"ALTER TABLE metric ADD COLUMN {column}")
    db.execute("CREATE INDEX observation_metric ON observation(metric_id, updated_at)")


@migrations(name="0400_evaluations")
def evaluations(db):
    # One stored result per (pilot, metric, as-of date). The UNIQUE key is the claim:
    # evaluation writes are upserts on it, so a rerun or a crash never leaves two.
    # input_hash covers everything the result depends on (the observation rows used
    # for every metric of the pilot, the settings, the plan, the library versions); a
    # stored row is only replaced when it differs.
    db.execute(
        """
        CREATE TABLE evaluation (
            id INTEGER PRIMARY KEY,
            pilot_id INTEGER NOT NULL REFERENCES pilot(id) ON DELETE CASCADE,
            metric_id INTEGER NOT NULL REFERENCES metric(id),
            as_of TEXT NOT NULL,
            plan_version INTEGER,
            preview INTEGER NOT NULL DEFAULT 0 CHECK (preview IN (0, 1)),
            scheduled INTEGER NOT NULL DEFAULT 0 CHECK (scheduled IN (0, 1)),
            dropped_in_version INTEGER,
            role TEXT NOT NULL CHECK (role IN ('primary','secondary','balancing')),
            design TEXT NOT NULL CHECK (design IN ('spc','pre_post','two_group','did')),
            method TEXT NOT NULL,
            estimate REAL,
            ci_low REAL,
            ci_high REAL,
            p_value REAL,
            n_pilot INTEGER NOT NULL DEFAULT 0,
            n_comparison INTEGER NOT NULL DEFAULT 0,
            probability_improved REAL,
            verdict TEXT NOT NULL CHECK (verdict IN
                ('improved','worsened','no_clear_change','insufficient_data')),
            summary TEXT NOT NULL,
            details TEXT NOT NULL,
            warnings TEXT NOT NULL,
            data_hash TEXT NOT NULL,
            input_hash TEXT NOT NULL,
            settings TEXT NOT NULL,
            versions TEXT NOT NULL,
            computed_at TEXT NOT NULL,
            UNIQUE (pilot_id, metric_id, as_of)
        )"""
    )
    db.execute("CREATE INDEX evaluation_pilot_as_of ON evaluation(pilot_id, as_of)")
    db.execute("CREATE INDEX evaluation_input ON evaluation(pilot_id, input_hash)")
    # The scheduler's log: one row per attempt, failures included.
    db.execute(
        """
        CREATE TABLE job_run (
            id INTEGER PRIMARY KEY,
            job TEXT NOT NULL,
            scheduled_for TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            status TEXT NOT NULL CHECK (status IN ('running','ok','failed')),
            catch_up INTEGER NOT NULL DEFAULT 0 CHECK (catch_up IN (0, 1)),
            message TEXT NOT NULL DEFAULT ''
        )"""
    )
    db.execute("CREATE INDEX job_run_job ON job_run(job, status, scheduled_for)")
    # What the daily deadline check found, for pages to show: one row per open matter,
    # kept up to date by each check and closed (resolved_at) when it is no longer found.
    db.execute(
        """
        CREATE TABLE notice (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN
                ('approval_pending','pilot_overdue','idea_unanswered')),
            object_type TEXT NOT NULL,
            object_id INTEGER NOT NULL,
            unit_id INTEGER REFERENCES unit(id),
            title TEXT NOT NULL,
            due TEXT,
            first_seen TEXT NOT NULL,
            last_seen TEXT NOT NULL,
            resolved_at TEXT,
            UNIQUE (kind, object_type, object_id)
        )"""
    )
    db.execute("CREATE INDEX notice_open ON notice(resolved_at, kind)")


@migrations(name="0610_notifications")
def notifications(db):
    # The in-app inbox: links and short summaries only, never report content.
    db.execute(
        """
        CREATE TABLE notification (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            title TEXT NOT NULL,
            link TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            read_at TEXT
        )"""
    )
    db.execute("CREATE INDEX notification_user ON notification(user_id, read_at, id)")
    # A leader's digest rhythm; no row means weekly.
    db.execute(
        """
        CREATE TABLE digest_setting (
            user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
            frequency TEXT NOT NULL DEFAULT 'weekly'
                CHECK (frequency IN ('daily','weekly','off')),
            updated_at TEXT NOT NULL
        )"""
    )
    # One digest per person and period (a day, or an ISO week): the UNIQUE key makes a
    # rerun of the job, or two of them, send it once.
    db.execute(
        """
        CREATE TABLE digest (
            id INTEGER PRIMARY KEY,
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            period_key TEXT NOT NULL,
            frequency TEXT NOT NULL,
            since TEXT NOT NULL,
            signals INTEGER NOT NULL DEFAULT 0,
            decisions INTEGER NOT NULL DEFAULT 0,
            channel TEXT NOT NULL CHECK (channel IN ('smtp','outbox','none','failed')),
            created_at TEXT NOT NULL,
            UNIQUE (user_id, period_key)
        )"""
    )
    # Mail that would have been sent, when no SMTP server is configured.
    db.execute(
        """
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
            recipient TEXT NOT NULL,
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at TEXT NOT NULL
        )"""
    )
    # When a person last looked at a page (the leader portfolio's "new since").
    db.execute(
        """
        CREATE TABLE page_visit (
            user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
            page TEXT NOT NULL,
            previous_at TEXT,
            current_at TEXT NOT NULL,
            PRIMARY KEY (user_id, page)
        )"""
    )
    db.execute("CREATE INDEX evaluation_computed ON evaluation(computed_at)")


@migrations(name="0620_leader_portfolio")
def leader_portfolio(db):
    # The portfolio of a leader of many pilots reads them all on every visit: its counts
    # and decisions due from these columns alone, its approvals from the few proposed
    # versions rather than every pilot's versions.
    db.execute("CREATE INDEX pilot_team_status ON pilot(team_id, status, end_date, decision)")
    db.execute("CREATE INDEX plan_version_state ON plan_version(state, pilot_id)")
    # How many writes each table behind a kept (cached) read has seen. Triggers count
    # every insert, update and delete, whoever makes it (a web worker, the scheduler, a
    # CLI command), so a read kept in one process knows when it has gone stale: the
    # pilot page's rendered results and the portfolio's signals (pilots.web).
    db.execute(
        """
        CREATE TABLE change_count (
            name TEXT PRIMARY KEY,
            n INTEGER NOT NULL DEFAULT 0
        ) WITHOUT ROWID"""
    )
    for table in ("evaluation", "metric", "pdsa_cycle", "pilot", "unit", "role"):
        db.execute("INSERT INTO change_count (name) VALUES (?)", [table])
        for event in ("insert", "update", "delete"):
            db.execute(
                f"""CREATE TRIGGER {table}_{event}_counted AFTER {event.upper()} ON {table}
                    BEGIN UPDATE change_count SET n = n + 1 WHERE name = '{table}'; END"""  # noqa: S608 - constant names
            )


@migrations(name="0630_data_revisions")
def data_revisions(db):
    # Whether a pilot's observations changed since a look read them, told without
    # reading them: a new row raises the pilot's row count, and triggers count every
    # update and delete, whoever makes it (a revision, like change_count). Inserts get
    # no trigger, so an import of new rows pays nothing for this. A look remembers what
    # its reading found (`observation_reading`: the revision, the row count, the cut-off and each
    # metric's data hash); the next look with the same revision and row count, and no
    # observation between the two cut-offs, knows the data hashes without reading the
    # rows again (pilots.evaluation.inputs.known_hashes).
    db.execute(
        """
        CREATE TABLE observation_revision (
            pilot_id INTEGER PRIMARY KEY,  -- no foreign key: a pilot's deletion deletes
            revision INTEGER NOT NULL      -- its rows, whose trigger counts here
        ) WITHOUT ROWID"""
    )
    for event, row in (("update", "NEW"), ("delete", "OLD")):
        db.execute(
            f"""CREATE TRIGGER observation_{event}_revised AFTER {event.upper()} ON observation
                BEGIN
                    INSERT INTO observation_revision (pilot_id, revision)
                    VALUES ({row}.pilot_id, 1)
                    ON CONFLICT (pilot_id) DO UPDATE SET revision = revision + 1;
                END"""  # noqa: S608 - constant names
        )
    db.execute(
        """
        CREATE TABLE observation_reading (
            pilot_id INTEGER PRIMARY KEY REFERENCES pilot(id) ON DELETE CASCADE,
            revision INTEGER NOT NULL,
            row_count INTEGER NOT NULL,
            cutoff TEXT NOT NULL,
            reading TEXT NOT NULL,
            hashes TEXT NOT NULL
        )"""
    )


@migrations(name="0640_audit_lookups")
def audit_lookups(db):
    # The trail grows by an event per pilot on every scheduled look, and pages read it
    # by object (a pilot's timeline, its undone uploads) and by actor (a leader's view
    # of the trail): without these, each such read scans the whole trail, and the
    # pilot page slows as the trail grows (61 ms for a timeline at 300,000 events).
    db.execute("CREATE INDEX audit_event_object ON audit_event(object_type, object_id)")
    db.execute("CREATE INDEX audit_event_actor ON audit_event(actor_id)")


@migrations(name="0650_metric_rate_per")
def metric_rate_per(db):
    # A rate is shown per this much exposure: "visits per 100 follow-up days" is
    # events / days x 100. 1 for every metric that is not a rate, and for the rates
    # stored before this, which were shown per unit of exposure.
    db.execute(
        "ALTER TABLE metric ADD COLUMN rate_per REAL NOT NULL DEFAULT 1 CHECK (rate_per > 0)"
    )


def apply(db) -> list[str]:
    """Apply pending migrations; return the names applied."""
    pending = [m.name for m in migrations.pending(db)]
    migrations.apply(db)
    return pending
