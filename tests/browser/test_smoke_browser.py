def test_home_page_in_chromium(server_url, phone_page, check_accessibility):
    phone_page.goto(server_url + "/")
    assert phone_page.locator("html").get_attribute("lang") == "fr"
    check_accessibility(phone_page)
