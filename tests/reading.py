"""What a reader of a rendered report must never see, checked in a browser page (Selenium)."""
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CODE = ".jp-CodeCell .jp-InputArea, .jp-InputArea-editor, div.input"  # nbconvert's input areas


def readable(browser, forbidden=()) -> str:
    """The page's visible text, after checking it shows no NaN/None cell, no machine path and no code."""
    from selenium.webdriver.common.by import By

    text = browser.find_element(By.TAG_NAME, "body").text
    for bad in ("NaN", "None", str(Path.home()), str(REPO), *forbidden):
        assert bad not in text, f"{browser.current_url}: a reader sees {bad!r}"
    assert not browser.find_elements(By.CSS_SELECTOR, CODE), f"{browser.current_url}: code shown in a report"
    return text


def figures_ok(browser) -> int:
    """How many figures the page has; each must have loaded at a readable size."""
    from selenium.webdriver.common.by import By

    images = browser.find_elements(By.TAG_NAME, "img")
    for im in images:
        assert browser.execute_script("return arguments[0].naturalWidth", im) > 100 and im.size["height"] > 50
    return len(images)
