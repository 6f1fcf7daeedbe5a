"""The editors' pages (/kb) in headless Chromium, with the bot answering through the Bot API stand-in.

One served application for the module (demo data, the Telegram poller on the app's loop); each test signs
in through the real form. Screenshots go to ``var/screenshots/editors-*.png`` for a person to look at.
"""

from __future__ import annotations

import io
import itertools
import re
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from core.settings import ROOT
from core.web.keys import SESSIONS
from kb.markdown import render_plain
from kb.models import Article, ArticleRevision, Gap, GapStatus
from standin.botapi import BotApiStandIn
from standin.stack import TOKEN, Stack
from tests.support.browser import (
    DESKTOP,
    PHONE,
    ServerThread,
    page_settings,
    screenshot,
    served_with_standin,
    sign_in,
)

pytestmark = pytest.mark.browser
_chats = itertools.count(7100)
EDITOR = ("editor", "frontline-editor")


class Site:
    """The served app and the customer's side of the Telegram chat (run on the app's loop)."""

    def __init__(self, thread: ServerThread, standin: BotApiStandIn) -> None:
        self.thread = thread
        self.url = thread.url
        self.var_dir = thread.settings.var_dir
        assert thread.app is not None
        self.chat = Stack(standin=standin, app=thread.app, client=None)  # type: ignore[arg-type]

    def say(self, text: str, language: str = "ru") -> str:
        """A new customer asks the bot; all of its replies, joined."""
        return "\n".join(self.thread.run_coroutine(self.chat.say(next(_chats), text, language)))

    def query(self, statement: Any) -> Any:
        async def run() -> Any:
            assert self.thread.app is not None
            async with self.thread.app[SESSIONS]() as session, session.begin():
                return (await session.execute(statement)).all()

        return self.thread.run_coroutine(run())

    def article(self, slug: str, language: str = "ru") -> Any:
        return self.query(select(Article).where(Article.slug == slug, Article.language == language))[0][0]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    settings = page_settings(tmp_path_factory.mktemp("editors"), telegram_token=TOKEN)
    with served_with_standin(settings) as (thread, standin):
        yield Site(thread, standin)


def editor_page(browser: Browser, site: Site, viewport: dict[str, int] = DESKTOP) -> Page:
    page = browser.new_context(locale="ru-RU", viewport=viewport).new_page()  # type: ignore[arg-type]
    sign_in(page, site.url, *EDITOR)
    return page


def shots(page: Page, name: str) -> None:
    """Desktop and 375-px phone screenshots of the page as it is."""
    screenshot(page, name)
    page.set_viewport_size(PHONE)
    screenshot(page, f"{name}-phone")
    page.set_viewport_size(DESKTOP)


def open_article(page: Page, site: Site, title: str) -> None:
    page.goto(f"{site.url}/kb/")
    page.get_by_label("Поиск").fill(title)
    page.get_by_role("button", name="Показать").click()
    page.get_by_role("link", name=title, exact=True).click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()


def test_an_operator_cannot_open_the_editors_pages(site: Site, browser: Browser) -> None:
    page = browser.new_context(locale="ru-RU").new_page()
    page.goto(f"{site.url}/kb/")
    expect(page).to_have_url(re.compile(r"/login\?next=/kb/"))
    sign_in(page, site.url, "operator", "frontline-operator")
    expect(page.locator("header.topbar nav").get_by_role("link", name="База знаний")).to_have_count(0)
    for path in ("/kb/", "/kb/gaps", "/kb/import", "/kb/ask?q=интернет", "/kb/articles/1"):
        response = page.goto(f"{site.url}{path}")
        assert response is not None
        assert response.status == 403, path
    # An editor sees the section in the top bar.
    page = editor_page(browser, site)
    page.goto(f"{site.url}/")
    page.locator("header.topbar nav").get_by_role("link", name="База знаний").click()
    expect(page.get_by_role("heading", name="Статьи")).to_be_visible()


def test_edit_preview_and_the_bot_answers_with_the_new_text(site: Site, browser: Browser) -> None:
    page = editor_page(browser, site)
    page.goto(f"{site.url}/kb/?status=published&language=ru&sort=title")
    expect(page.locator("table.kb-table tbody tr").first).to_be_visible()
    shots(page, "editors-list")
    open_article(page, site, "Как сменить пароль от Wi-Fi")
    body = page.locator("#body")
    body.fill(body.input_value() + "\n\n**6. Новое.** Позвоните по номеру 8-800-555-42-42 — дежурный инженер поможет.")
    preview = page.locator("#preview-web")
    expect(preview.locator("strong", has_text="6. Новое.")).to_be_visible()
    expect(page.locator("#preview-telegram")).to_contain_text("8-800-555-42-42")
    shots(page, "editors-editor-preview")
    page.get_by_role("button", name="Сохранить", exact=True).click()
    expect(page.get_by_role("status")).to_contain_text("Сохранено")
    reply = site.say("как поменять пароль от вайфая")
    assert "8-800-555-42-42" in reply, reply
    # The answer served is counted for the period.
    page.goto(f"{site.url}/kb/?period=7&sort=served&language=ru")
    top = page.locator("table.kb-table tbody tr").first
    expect(top).to_contain_text("Как сменить пароль от Wi-Fi")
    expect(top.locator("td.num").first).to_have_text("1")


def test_a_stale_save_is_refused_and_the_text_is_kept(site: Site, browser: Browser) -> None:
    first = editor_page(browser, site)
    second = editor_page(browser, site)
    open_article(first, site, "Часы работы поддержки")
    open_article(second, site, "Часы работы поддержки")
    first.locator("#body").fill("Поддержка работает круглосуточно. Правка первого редактора.")
    first.get_by_role("button", name="Сохранить", exact=True).click()
    expect(first.get_by_role("status")).to_contain_text("Сохранено")
    mine = "Мой текст второго редактора: не потеряйте его."
    second.locator("#body").fill(mine)
    second.get_by_role("button", name="Сохранить", exact=True).click()
    expect(second.locator("#conflict")).to_contain_text("кто-то другой")
    expect(second.locator("#body")).to_have_value(mine)
    assert site.article("support-hours").body == "Поддержка работает круглосуточно. Правка первого редактора."
    # Having been shown the conflict, the second editor may save over the newer version deliberately.
    second.get_by_role("button", name="Сохранить", exact=True).click()
    expect(second.get_by_role("status")).to_contain_text("Сохранено")
    assert site.article("support-hours").body == mine


def test_history_diff_and_restore(site: Site, browser: Browser) -> None:
    page = editor_page(browser, site)
    original = site.article("support-hours").body
    open_article(page, site, "Часы работы поддержки")
    page.locator("#body").fill(original + "\nВ праздники — с 10 до 18.")
    page.locator("#note").fill("праздничные часы")
    page.get_by_role("button", name="Сохранить", exact=True).click()
    page.get_by_role("link", name="История").first.click()
    expect(page.locator("table.kb-table tbody tr").first).to_contain_text("праздничные часы")
    diff = page.locator("section.diff")
    expect(diff.locator("ins", has_text="В праздники — с 10 до 18.")).to_be_visible()
    shots(page, "editors-revision-diff")
    # Compare the very first revision with the newest one, then restore the first.
    page.locator("input[name=a]").last.check()
    page.get_by_role("button", name="Сравнить выбранные версии").click()
    expect(page.get_by_role("heading", name=re.compile(r"от версии 1 к версии"))).to_be_visible()
    page.get_by_role("button", name="Вернуть версию 1").click()
    expect(page.get_by_role("status")).to_contain_text("Восстановлено")
    first = site.query(
        select(ArticleRevision.body)
        .join(Article, Article.id == ArticleRevision.article_id)
        .where(Article.slug == "support-hours", Article.language == "ru", ArticleRevision.version == 1)
    )[0][0]
    assert site.article("support-hours").body == first


def test_a_draft_changes_the_band_and_publishing_it_answers_the_bot(site: Site, browser: Browser) -> None:
    question = "можно ли платить за интернет биткоинами"
    page = editor_page(browser, site)
    page.goto(f"{site.url}/kb/ask?q={question}&language=ru")
    published = page.locator(".ask-result").first
    assert published.get_attribute("data-band") != "answer"
    screenshot(page, "editors-ask")
    page.goto(f"{site.url}/kb/new")
    page.locator("#title").fill("Оплата криптовалютой")
    page.locator("#questions").fill("можно ли платить за интернет биткоинами\nпринимаете ли вы криптовалюту")
    page.locator("#body").fill("Криптовалюту мы **не принимаем**. Оплатите картой или через СБП.")
    page.locator("#slug").fill("crypto-payments")
    page.get_by_role("button", name="Создать черновик").click()
    expect(page.get_by_role("status")).to_contain_text("Сохранено")
    page.locator("#check-q").fill(question)
    page.get_by_role("button", name="Проверить с этим черновиком").click()
    columns = page.locator("#check-result .ask-result")
    expect(columns).to_have_count(2)
    expect(columns.nth(1)).to_have_attribute("data-band", "answer")
    assert columns.nth(0).get_attribute("data-band") != "answer"
    expect(columns.nth(1)).to_contain_text("Оплата криптовалютой")
    shots(page, "editors-ask-draft")
    assert "не принимаем" not in site.say(question)  # a draft is not what the bot says
    page.get_by_role("button", name="Сохранить и опубликовать").click()
    expect(page.locator(".kb-head .status")).to_have_text("опубликована")
    assert "Криптовалюту мы <b>не принимаем</b>" in site.say(question)


def test_a_gap_becomes_a_variant_and_the_question_is_answered(site: Site, browser: Browser) -> None:
    question = "как оплатить с айфона через эппл пей"
    card = site.article("pay-by-card")
    opening = render_plain(card.body)[:40]
    reply = site.say(question)
    assert opening not in reply
    open_gaps = site.query(select(Gap.id).where(Gap.text == question, Gap.status == GapStatus.OPEN))
    assert open_gaps, reply  # the bot could not answer it confidently: it is a gap
    page = editor_page(browser, site)
    page.goto(f"{site.url}/kb/gaps")
    group = page.locator("article.gap-group", has=page.get_by_text(question)).first
    expect(group).to_be_visible()
    shots(page, "editors-gaps")
    # The group the published draft answers by now says so, and can be dismissed.
    crypto = page.locator("article.gap-group", has=page.get_by_text("можно ли платить за интернет биткоинами"))
    expect(crypto.locator(".answered")).to_contain_text("Оплата криптовалютой")
    crypto.get_by_role("button", name="Отклонить").click()
    expect(page.get_by_role("status")).to_contain_text("Группа отклонена")
    expect(page.get_by_text("можно ли платить за интернет биткоинами")).to_have_count(0)
    group = page.locator("article.gap-group", has=page.get_by_text(question)).first
    group.locator("select[name=article_id]").select_option(str(card.id))
    group.get_by_role("button", name="Добавить").click()
    expect(page.get_by_role("status")).to_contain_text("добавлены как варианты")
    assert question in site.article("pay-by-card").questions
    assert opening in site.say(question)


def _zip(files: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


GOOD_MD = "---\nslug: import-good\nlanguage: ru\ntitle: Хорошая статья\n---\nТекст.\n"
BAD_MD = "---\nslug: import-bad\nlanguage: ru\ntitle: Плохая\nstatus: maybe\n---\nТекст.\n"


def test_an_import_with_an_error_shows_file_and_line_and_changes_nothing(site: Site, browser: Browser) -> None:
    count = site.query(select(func.count()).select_from(Article))[0][0]
    page = editor_page(browser, site)
    page.goto(f"{site.url}/kb/import")
    archive = _zip({"good.md": GOOD_MD, "sub/bad.md": BAD_MD})
    page.locator("#file").set_input_files({"name": "kb.zip", "mimeType": "application/zip", "buffer": archive})
    page.get_by_role("button", name="Импортировать").click()
    problems = page.locator("#import-problems")
    expect(problems).to_contain_text("Ничего не импортировано")
    expect(problems.locator("tbody tr").first).to_contain_text("sub/bad.md")
    expect(problems.locator("tbody tr td").nth(1)).to_have_text("5")
    shots(page, "editors-import-error")
    assert site.query(select(func.count()).select_from(Article))[0][0] == count
    # A CSV in another encoding: the line of the first broken byte, and nothing imported.
    csv = "slug,language,title,body\ncp-test,ru,Тест,Проверка\n".encode("cp1251")
    page.locator("#file").set_input_files({"name": "kb.csv", "mimeType": "text/csv", "buffer": csv})
    page.get_by_role("button", name="Импортировать").click()
    expect(page.locator("#import-problems")).to_contain_text("UTF-8")
    expect(page.locator("#import-problems tbody tr td").first).to_have_text("kb.csv")
    # Not a zip at all, and a zip with a path out of the archive.
    page.locator("#file").set_input_files(
        {"name": "kb.zip", "mimeType": "application/zip", "buffer": b"PK\x03\x04junk"}
    )
    page.get_by_role("button", name="Импортировать").click()
    expect(page.locator("#import-problems")).to_be_visible()
    evil = _zip({"../evil.md": GOOD_MD})
    page.locator("#file").set_input_files({"name": "kb.zip", "mimeType": "application/zip", "buffer": evil})
    page.get_by_role("button", name="Импортировать").click()
    expect(page.locator("#import-problems")).to_contain_text("../evil.md")
    assert site.query(select(func.count()).select_from(Article))[0][0] == count
    # A good file imports.
    page.locator("#file").set_input_files({"name": "good.md", "mimeType": "text/markdown", "buffer": GOOD_MD.encode()})
    page.get_by_role("button", name="Импортировать").click()
    expect(page.locator("#import-report")).to_contain_text("создано 1")
    # The calibration status is shown; only admins get the button.
    expect(page.locator("#calibration")).to_contain_text("Ответ от уверенности")
    expect(page.get_by_role("button", name="Перекалибровать сейчас")).to_have_count(0)


HOSTILE = (
    "Текст <script>window.pwned = 1</script>\n\n"
    '[нажми](javascript:window.pwned=2) и <img src=x onerror="window.pwned=3">\n\n'
    "![чужая картинка](https://tracker.example/pixel.png)\n"
)


def test_hostile_markdown_is_inert_and_external_images_are_not_loaded(site: Site, browser: Browser) -> None:
    page = editor_page(browser, site)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{site.url}/kb/new")
    page.locator("#body").fill(HOSTILE)
    preview = page.locator("#preview-web")
    expect(preview.locator(".image-blocked")).to_contain_text("чужая картинка")
    expect(preview).to_contain_text("<script>")  # shown as text
    assert preview.locator("script, img[onerror], a[href^='javascript']").count() == 0
    page.locator("#title").fill("Проверка экранирования")
    page.locator("#slug").fill("escaping-check")
    page.get_by_role("button", name="Создать черновик").click()
    expect(page.get_by_role("status")).to_contain_text("Сохранено")
    expect(page.locator("#preview-web")).to_contain_text("<script>")
    assert page.evaluate("window.pwned") is None
    assert not [u for u in requested if "tracker.example" in u]
    assert page.locator("#preview-web img").count() == 0


def test_bad_editor_input_is_refused_and_the_text_is_kept(site: Site, browser: Browser) -> None:
    page = editor_page(browser, site)
    page.goto(f"{site.url}/kb/new")
    # A body over the limit: refused in the page before sending, the text stays in the form.
    size = 150_000
    page.locator("#title").fill("Огромная")
    page.locator("#slug").fill("huge-body")
    # Pasted at once (typing it through the keyboard would take the test minutes).
    page.evaluate(
        "size => { const b = document.querySelector('#body'); b.value = 'очень длинный ответ\\n'.repeat(size / 20);"
        " b.dispatchEvent(new Event('input')); }",
        size,
    )
    expect(page.locator("#client-problem")).to_contain_text("длиннее")
    page.get_by_role("button", name="Создать черновик").click()
    expect(page.locator("#client-problem")).to_contain_text("длиннее")
    assert page.evaluate("document.querySelector('#body').value.length") == size
    # A 5 MB body posted past the page: a 4xx, nothing saved.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    assert token
    big = {"csrf_token": token, "title": "Огромная", "slug": "huge-body", "language": "ru", "body": "а " * 2_621_440}
    response = page.request.post(f"{site.url}/kb/new", form=big)
    assert response.status == 413
    assert not site.query(select(Article.id).where(Article.slug == "huge-body"))
    # A duplicate slug: a clear message, the form as it was.
    page.goto(f"{site.url}/kb/new")
    page.locator("#title").fill("Дубль")
    page.locator("#slug").fill("internet-not-working")
    page.locator("#body").fill("Мой черновик про дубль")
    page.get_by_role("button", name="Создать черновик").click()
    expect(page.locator("#problems")).to_contain_text("уже есть")
    expect(page.locator("#body")).to_have_value("Мой черновик про дубль")
    # Posted past the page's checks: an empty title is 422 with the text kept.
    form = {"csrf_token": token, "title": "  ", "slug": "empty-title", "language": "ru", "body": "Сохраните меня"}
    response = page.request.post(f"{site.url}/kb/new", form=form)
    assert response.status == 422
    assert "Сохраните меня" in response.text()
    # A stale CSRF token: refused, nothing saved.
    response = page.request.post(f"{site.url}/kb/new", form={**form, "title": "Т", "csrf_token": "stale"})
    assert response.status == 403
    assert not site.query(select(Article.id).where(Article.slug == "empty-title"))


def test_an_admin_recalibrates_the_bands(site: Site, browser: Browser) -> None:
    page = browser.new_context(locale="ru-RU", viewport=DESKTOP).new_page()
    sign_in(page, site.url, "admin", "frontline-admin")
    page.goto(f"{site.url}/kb/import")
    shipped = ROOT / "data" / "kb" / "thresholds.yml"
    before = shipped.read_bytes()
    page.get_by_role("button", name="Перекалибровать сейчас").click()
    expect(page.locator("#calibration [role=status]")).to_contain_text("Перекалибровано", timeout=240_000)
    # Saved as runtime state for the next start; the repository's calibration is left alone.
    saved = site.var_dir / "kb" / "thresholds.yml"
    assert "answer:" in saved.read_text(encoding="utf-8")
    assert shipped.read_bytes() == before
    expect(page.locator("#calibration")).to_contain_text(str(saved))
