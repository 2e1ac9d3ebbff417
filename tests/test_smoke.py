def test_home_page(client):
    assert client.get("/").status_code == 200


def test_household(make_household):
    household = make_household(children=[])
    assert household.id is not None


def test_login_fixture(make_household, login):
    account = login(make_household())
    assert account.email.startswith("parent")
