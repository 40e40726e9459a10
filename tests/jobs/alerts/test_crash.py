"""A real sending process killed (SIGKILL) between the webhook call and its recording: the
restart does not post it again (the receiver counts one) and the alert is listed as uncertain.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from click.testing import CliRunner

from connector.sandbox.chat import ChatWebhooks
from jobs.alerts.steps import plan_step
from jobs.cli import main
from jobs.config import load_settings
from jobs.store import Store
from jobs.store.alerts import AlertStore
from tests.conftest import FakeClock
from tests.jobs.alerts.conftest import health, learn_baseline
from tests.jobs.alerts.test_outbox import breach, engagements

ROOT = Path(__file__).resolve().parents[3]

_SEND_AND_DIE = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from jobs.alerts.steps import send_step
    from jobs.config import load_settings
    from jobs.store import Store

    settings = load_settings(sys.argv[1])

    def die(point):
        # The fault hook: the webhook took the message, the outbox is not told yet.
        os.kill(os.getpid(), signal.SIGKILL)

    store = Store.open(settings.store_url)
    send_step(store, settings, now=datetime.fromisoformat(sys.argv[2]), fault=die)
    print("not killed")
    """
)


def test_killed_between_posting_and_recording_never_posts_twice(
    tmp_path: Path, clock: FakeClock, chat: ChatWebhooks
) -> None:
    db = tmp_path / "engage.db"
    config = tmp_path / "engage.toml"
    config.write_text(
        textwrap.dedent(
            f"""
            [crm]
            kind = "zoho"
            [crm.zoho]
            accounts_url = "https://accounts.zoho.eu"
            [store]
            url = "sqlite:///{db}"
            [alerts]
            rules = [{{ event = "sla_status", routes = ["ops"] }}]
            [alerts.routes.ops]
            channel = "slack"
            url_env = "ENGAGE_TEST_OPS_HOOK"
            """
        ),
        encoding="utf-8",
    )
    env = {**os.environ, "ENGAGE_TEST_OPS_HOOK": chat.slack_url("ops"), "PYTHONPATH": str(ROOT)}
    settings = load_settings(config, env)
    store = Store.open(f"sqlite:///{db}")
    store.save_engagements(engagements(2), clock())
    store.save_health([health(e.crm_id, clock()) for e in engagements(2)])
    learn_baseline(store, settings, clock())
    clock.advance(minutes=15)
    breach(store, ["E01", "E02"], clock())
    assert plan_step(store, settings, now=clock()).added == 2
    store.close()

    script = tmp_path / "send_and_die.py"
    script.write_text(_SEND_AND_DIE, encoding="utf-8")
    killed = subprocess.run(
        [sys.executable, str(script), str(config), clock().isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert killed.returncode == -9, killed.stderr
    assert chat.count("ops") == 1
    first = chat.received["ops"][0]["blocks"][0]["text"]["text"]

    clock.advance(hours=1)
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--config", str(config), "alerts", "send"],
        env={"ENGAGE_TEST_OPS_HOOK": env["ENGAGE_TEST_OPS_HOOK"]},
    )
    # The other alert goes out; the interrupted one is not posted again but listed.
    assert chat.count("ops") == 2
    titles = [p["blocks"][0]["text"]["text"] for p in chat.received["ops"]]
    assert sorted(titles) == ["SLA breached: Engagement 01", "SLA breached: Engagement 02"]
    assert titles[0] == first
    assert result.exit_code == 1
    assert "sent 1 message(s) with 1 alert(s), 0 summary(ies); uncertain 1" in result.output
    assert "Not resent automatically" in result.output

    again = runner.invoke(
        main,
        ["--config", str(config), "alerts", "send"],
        env={"ENGAGE_TEST_OPS_HOOK": env["ENGAGE_TEST_OPS_HOOK"]},
    )
    assert "sent 0 message(s)" in again.output
    assert chat.count("ops") == 2
    status = runner.invoke(main, ["--config", str(config), "alerts", "status"])
    uncertain = [line for line in status.output.splitlines() if line.startswith("uncertain")]
    assert len(uncertain) == 1 and "may or may not have been delivered" in uncertain[0]
    assert "`engage alerts retry" in uncertain[0]
    engine = Store.open(f"sqlite:///{db}").engine
    assert sorted(r.state for r in AlertStore(engine).rows()) == ["sending", "sent"]
    engine.dispose()
