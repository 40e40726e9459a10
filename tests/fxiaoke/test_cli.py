"""Real `engage` processes against the Fxiaoke sandbox: tokens kept in the store between
processes, and bad input as one line with the documented exit code, no secret printed.

The sandbox runs in this process on the real clock (the subprocesses read the machine's).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from connector.sandbox.fxiaoke import FxiaokeSandbox
from jobs.demo.fxiaoke import fxiaoke_env

ENGAGE = str(Path(sys.executable).with_name("engage"))


def engage(config: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ENGAGE, "--config", str(config), *args],
        check=False,
        env={**os.environ, **env, "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=180,
    )


def write_config(fx: FxiaokeSandbox, tmp_path: Path, **extra: str) -> Path:
    lines = [
        "[crm]",
        'kind = "fxiaoke"',
        "[crm.fxiaoke]",
        f'base_url = "{fx.url}"',
        f'app_id = "{fx.app_id}"',
        *(f'{key} = "{value}"' for key, value in extra.items()),
        "[store]",
        f'url = "sqlite:///{tmp_path / "engage.db"}"',
    ]
    path = tmp_path / "engage.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def fx() -> Iterator[FxiaokeSandbox]:
    with FxiaokeSandbox(deals=40) as sandbox:
        yield sandbox


def test_three_processes_in_a_row_fetch_one_token(fx: FxiaokeSandbox, tmp_path: Path) -> None:
    config = write_config(fx, tmp_path, admin_mobile=fx.admin["mobile"])
    for _ in range(3):
        done = engage(config, fxiaoke_env(fx), "sync")
        assert done.returncode == 0, done.stderr
    assert fx.tokens_issued == 1
    # The user was looked up by mobile in each process (a lookup per process, not per call).
    assert sum(1 for p, _s, _b in fx.calls if p == "/cgi/user/getByMobile") == 3


def _one_error_line(done: subprocess.CompletedProcess[str], fx: FxiaokeSandbox) -> str:
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for secret in (fx.app_secret, fx.permanent_code, fx.other_tenant_permanent_code):
        assert secret not in done.stderr and secret not in done.stdout
    return lines[0]


def test_a_wrong_app_secret_exits_2_with_one_line(fx: FxiaokeSandbox, tmp_path: Path) -> None:
    config = write_config(fx, tmp_path, admin_mobile=fx.admin["mobile"])
    env = {**fxiaoke_env(fx), "ENGAGE_FXIAOKE_APP_SECRET": "wrong-secret-123456"}
    done = engage(config, env, "sync")
    assert done.returncode == 2
    line = _one_error_line(done, fx)
    assert "ENGAGE_FXIAOKE_APP_SECRET" in line and "wrong-secret-123456" not in line


def test_another_tenants_permanent_code_exits_2_with_one_line(
    fx: FxiaokeSandbox, tmp_path: Path
) -> None:
    config = write_config(fx, tmp_path, admin_mobile=fx.admin["mobile"])
    env = {**fxiaoke_env(fx), "ENGAGE_FXIAOKE_PERMANENT_CODE": fx.other_tenant_permanent_code}
    done = engage(config, env, "sync")
    assert done.returncode == 2
    assert "permanentCode" in _one_error_line(done, fx)


def test_a_user_without_data_permission_exits_2_naming_the_setting(
    fx: FxiaokeSandbox, tmp_path: Path
) -> None:
    config = write_config(fx, tmp_path, open_user_id=fx.no_permission_user["openUserId"])
    done = engage(config, fxiaoke_env(fx), "sync")
    assert done.returncode == 2, done.stderr
    line = _one_error_line(done, fx)
    assert "无此操作的数据权限" in line and "crm.fxiaoke.open_user_id" in line


def test_the_daily_quota_used_up_exits_75_with_the_reason(tmp_path: Path) -> None:
    with FxiaokeSandbox(deals=40, daily_quota=3) as fx:
        config = write_config(fx, tmp_path, open_user_id=fx.admin["openUserId"])
        done = engage(config, fxiaoke_env(fx), "sync")
        assert done.returncode == 75, done.stdout + done.stderr
        assert "daily OpenAPI quota" in done.stdout + done.stderr
        assert fx.app_secret not in done.stdout + done.stderr


def test_a_secret_in_the_toml_file_is_refused_naming_the_variable(
    fx: FxiaokeSandbox, tmp_path: Path
) -> None:
    config = write_config(fx, tmp_path, app_secret="do-not-put-it-here")
    done = engage(config, fxiaoke_env(fx), "sync")
    assert done.returncode == 2
    line = _one_error_line(done, fx)
    assert "ENGAGE_FXIAOKE_APP_SECRET" in line


def test_fields_ensure_prints_the_console_steps_for_missing_fields(tmp_path: Path) -> None:
    with FxiaokeSandbox(deals=20, plugin_fields=False) as fx:
        config = write_config(fx, tmp_path, admin_mobile=fx.admin["mobile"])
        done = engage(config, fxiaoke_env(fx), "fields", "ensure")
        assert done.returncode == 1, done.stdout + done.stderr
        out = done.stdout
        for label in ("项目风险分", "项目风险等级", "客户健康摘要"):
            assert f'label "{label}"' in out
        assert "管理后台 → 对象管理 → NewOpportunityObj → 字段管理 → 新建字段" in out
        assert "low, medium, high, critical" in out


def test_mappings_check_finds_the_generated_names_by_label_and_writes_a_copy(
    fx: FxiaokeSandbox, tmp_path: Path
) -> None:
    config = write_config(fx, tmp_path, admin_mobile=fx.admin["mobile"])
    done = subprocess.run(
        [ENGAGE, "--config", str(config), "mappings", "check"],
        check=False,
        env={**os.environ, **fxiaoke_env(fx), "COLUMNS": "250"},
        capture_output=True,
        text=True,
        timeout=180,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    copy = (tmp_path / "fxiaoke-mapping.toml").read_text(encoding="utf-8")
    score = fx.field_named("opportunity", "项目风险分")
    summary = fx.field_named("AccountObj", "客户健康摘要")
    assert f'field = "{score}"' in copy and f'field = "{summary}"' in copy
    assert "engagement_risk_score__c" not in copy.split("[targets.engagements.fields]")[1]
    # The copy now checks clean against the tenant, with nothing left to find.
    (tmp_path / "copy.toml").write_text(
        config.read_text(encoding="utf-8").replace(
            "[crm.fxiaoke]", f'mapping = "{tmp_path / "fxiaoke-mapping.toml"}"\n[crm.fxiaoke]'
        ),
        encoding="utf-8",
    )
    again = engage(tmp_path / "copy.toml", fxiaoke_env(fx), "mappings", "check")
    assert again.returncode == 0 and "found by its label" not in again.stdout


def test_engage_sandbox_crm_fxiaoke_serves_the_documented_token_endpoint() -> None:
    import json

    import requests

    with subprocess.Popen(
        [ENGAGE, "sandbox", "--crm", "fxiaoke", "--port", "0", "--deals", "20", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        try:
            assert process.stdout is not None
            details = json.loads(process.stdout.readline())
            assert details["crm"] == "fxiaoke" and details["sandbox"] is True
            reply = requests.post(
                details["base_url"] + "/cgi/corpAccessToken/get/V2",
                json={
                    "appId": details["app_id"],
                    "appSecret": details["credentials"]["app_secret"],
                    "permanentCode": details["credentials"]["permanent_code"],
                },
                timeout=10,
            )
            assert reply.headers["X-Sandbox-CRM"] == "not-a-real-CRM"
            answer = reply.json()
            assert answer["errorCode"] == 0 and answer["corpAccessToken"]
            assert 0 < answer["expiresIn"] <= 7200
        finally:
            process.terminate()
            process.wait(timeout=10)
