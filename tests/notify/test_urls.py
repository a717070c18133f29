"""Where the notification URLs come from (environment, 0600 secrets file), that they never show, and that
the pipeline gets a notifier only when they are set."""

from __future__ import annotations

import pytest

from tui_trader import settings as s
from tui_trader.bus import EmbeddedBus
from tui_trader.cli import build_parser
from tui_trader.clock import FixedClock
from tui_trader.errors import SecretsError
from tui_trader.notify.urls import ENV_URLS, Scrubber, label, notify_urls, split_urls
from tui_trader.runtime import Pipeline
from tui_trader.workers import PIPELINE, WorkerContext

TG = "tgram://123456789:AAHsecretBotToken/987654321"


def test_env_urls_split_on_spaces_and_on_commas_that_start_a_url():
    text = f"{TG}, json://127.0.0.1:8080/hook\n mailtos://u:pw@mail.example.com?to=a@x.com,b@y.com"
    assert split_urls(text) == [TG, "json://127.0.0.1:8080/hook", "mailtos://u:pw@mail.example.com?to=a@x.com,b@y.com"]


def test_the_environment_wins_over_the_secrets_file(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text(f'notify_urls = ["{TG}"]\n')
    f.chmod(0o600)
    conf = s.replace_field(s.Settings(), "exchange", "secrets_file", str(f))
    assert notify_urls(conf, {}) == [TG]
    assert notify_urls(conf, {ENV_URLS: "json://h/x"}) == ["json://h/x"]
    # API keys from the environment do not hide the file's URLs.
    assert notify_urls(conf, {"TUI_TRADER_API_KEY": "k", "TUI_TRADER_API_SECRET": "v"}) == [TG]


def test_a_secrets_file_others_can_read_is_refused_for_urls_too(tmp_path):
    f = tmp_path / "secrets.toml"
    f.write_text(f'notify_urls = ["{TG}"]\n')
    f.chmod(0o644)
    conf = s.replace_field(s.Settings(), "exchange", "secrets_file", str(f))
    with pytest.raises(SecretsError) as err:
        notify_urls(conf, {})
    assert "chmod 600" in str(err.value) and "AAHsecretBotToken" not in str(err.value)


def test_secrets_repr_counts_urls_and_never_shows_them():
    text = repr(s.Secrets(api_key="k", api_secret="v", notify_urls=[TG]))
    assert "notify_urls=1" in text and "AAHsecret" not in text


def test_urls_are_not_settings():
    with pytest.raises(s.SettingsError) as err:
        s.parse({"notify": {"urls": [TG]}})
    assert "unknown key `notify.urls`" in str(err.value)


def test_scrubber_removes_every_piece_of_a_url_and_labels_name_only_the_scheme():
    scrub = Scrubber([TG, "json://trader:pw0rdXYZ@hooks.example.com:8443/abc/def123"])
    text = scrub(
        f"POST {TG} failed; 123456789:AAHsecretBotToken rejected; trader at hooks.example.com:8443 "
        "said pw0rdXYZ /abc/def123"
    )
    for piece in (
        "AAHsecretBotToken",
        "123456789",
        "987654321",
        "trader",
        "pw0rdXYZ",
        "hooks.example.com",
        "8443",
        "def123",
    ):
        assert piece not in text
    assert label(1, TG) == "url 2 (tgram)"


def ctx_with(env_urls: str | None, monkeypatch, replay: bool = False, **notify) -> WorkerContext:
    if env_urls is None:
        monkeypatch.delenv(ENV_URLS, raising=False)
    else:
        monkeypatch.setenv(ENV_URLS, env_urls)
    settings = s.Settings(notify=s.NotifySettings(**notify))
    return WorkerContext(
        settings=settings, bus=EmbeddedBus(), clock=FixedClock(0), replay_files=["x.gz"] if replay else []
    )


def names(ctx: WorkerContext, requested=PIPELINE) -> list[str]:
    from tui_trader.workers.notifier import pipeline_names

    return list(pipeline_names(ctx, requested))


def test_the_pipeline_gets_a_notifier_only_with_urls(monkeypatch):
    assert names(ctx_with(None, monkeypatch)) == list(PIPELINE)
    assert names(ctx_with("json://127.0.0.1:9/hook", monkeypatch)) == [*PIPELINE, "notifier"]
    # One worker per process (Fluvio) runs only what it was asked for.
    assert names(ctx_with("json://127.0.0.1:9/hook", monkeypatch), ["router"]) == ["router"]
    # Replays page nobody unless asked.
    assert names(ctx_with("json://127.0.0.1:9/hook", monkeypatch, replay=True)) == list(PIPELINE)
    assert names(ctx_with("json://127.0.0.1:9/hook", monkeypatch, replay=True, replays=True))[-1] == "notifier"


def test_runtime_builds_the_notifier(monkeypatch):
    ctx = ctx_with("json://127.0.0.1:9/hook", monkeypatch)
    ctx.shared["instruments"] = None
    monkeypatch.setattr("tui_trader.runtime.build", lambda name, c: type("W", (), {"name": name})())
    assert list(Pipeline(ctx).workers) == [*PIPELINE, "notifier"]


def test_worker_notifier_is_a_command():
    args = build_parser().parse_args(["worker", "notifier"])
    assert args.name == "notifier"
