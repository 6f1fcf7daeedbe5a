"""docker-compose.yml and the Dockerfile cannot run here (no Docker engine); check they agree with the code."""

from __future__ import annotations

from pathlib import Path

import yaml

from core.settings import ROOT, Settings

COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_app_postgres_redis_and_rasa_with_health_checks() -> None:
    services = COMPOSE["services"]
    assert {"app", "postgres", "redis", "rasa"} <= set(services)
    for name in ("app", "postgres", "redis", "rasa"):
        assert "healthcheck" in services[name], name
    assert services["app"]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_app_environment_names_real_settings() -> None:
    env = COMPOSE["services"]["app"]["environment"]
    fields = {f"FRONTLINE_{name.upper()}" for name in Settings.model_fields}
    unknown = set(env) - fields
    assert unknown == set(), f"compose sets variables the app does not read: {unknown}"
    assert env["FRONTLINE_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["FRONTLINE_REDIS_URL"].startswith("redis://redis:")


def test_published_port_matches_the_configured_port() -> None:
    app = COMPOSE["services"]["app"]
    port = app["environment"]["FRONTLINE_PORT"]
    assert f"{port}:{port}" in app["ports"]
    assert Settings.model_fields["port"].default == 8080


def test_rasa_service_uses_the_same_training_data_and_config() -> None:
    volumes = COMPOSE["services"]["rasa"]["volumes"]
    assert "./data/nlu:/app/data/nlu:ro" in volumes
    assert (ROOT / "nlu" / "rasa" / "config.yml").exists()
    assert (ROOT / "data" / "nlu").is_dir()


def test_dockerfile_copies_every_package_and_the_data() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for path in (
        "core",
        "nlu",
        "kb",
        "sla",
        "tickets",
        "records",
        "handoff",
        "notices",
        "portal",
        "bot",
        "migrations",
        "data",
    ):
        assert f"COPY {path} {path}" in dockerfile, path
    assert "EXPOSE 8080" in dockerfile


def test_readme_documents_every_setting_and_both_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme
    assert "make test" in readme
    missing = [f"FRONTLINE_{n.upper()}" for n in Settings.model_fields if f"FRONTLINE_{n.upper()}" not in readme]
    assert missing == []


def test_ci_runs_make_test() -> None:
    assert "make test" in Path(ROOT / ".ci" / "run").read_text()
