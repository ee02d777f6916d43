#!/usr/bin/python3
"""Drives the server with Mastodon.py (Debian's python3-mastodon) the way a
bot author would: register an app, sign up, sign in, read and change the
profile, follow someone.  Prints TAP so prove reads it.

usage: mastodon_py.py BASE_URL
"""

import sys
import traceback

from mastodon import Mastodon, MastodonAPIError

base = sys.argv[1]
results = []


def check(name, fn):
    try:
        ok = fn()
        results.append((bool(ok), name, '' if ok else 'returned false'))
    except Exception as e:  # noqa: BLE001 (a test reports every failure)
        results.append((False, name, ''.join(traceback.format_exception_only(type(e), e)).strip()))


state = {}


def _refused(fn):
    try:
        fn()
    except MastodonAPIError:
        return True
    except Exception:  # noqa: BLE001 (Mastodon.py raises its own subclasses)
        return True
    return False

check('create an app', lambda: state.update(app=Mastodon.create_app(
    'mastodon.py e2e', api_base_url=base, scopes=['read', 'write', 'follow'])) or state['app'][0])

check('the client reads the instance and its version', lambda: (
    state.update(anon=Mastodon(client_id=state['app'][0], client_secret=state['app'][1], api_base_url=base))
    or state['anon'].instance()['uri']))

check('sign up (POST /api/v1/accounts with an app token)', lambda: state.update(
    token=state['anon'].create_account('pyuser', 'correct horse battery', 'pyuser@example.com',
                                       agreement=True, locale='en', scopes=['read', 'write', 'follow']))
      or state['token'])

check('sign in with the password grant', lambda: (
    state.update(api=Mastodon(client_id=state['app'][0], client_secret=state['app'][1], api_base_url=base))
    or state['api'].log_in('pyuser@example.com', 'correct horse battery', scopes=['read', 'write', 'follow'])))

check('verify_credentials', lambda: state['api'].account_verify_credentials()['username'] == 'pyuser')

check('update_credentials', lambda: state['api'].account_update_credentials(
    display_name='Py User', note='Hello from Mastodon.py',
    fields=[('Site', 'https://example.com')])['display_name'] == 'Py User')

check('the change is visible', lambda: state['api'].account(state['api'].me()['id'])['note']
      == '<p>Hello from Mastodon.py</p>')

check('lookup and follow another account', lambda: (
    state.update(other=state['api'].account_lookup('target'))
    or state['api'].account_follow(state['other']['id'])['following']))

check('relationships', lambda: state['api'].account_relationships(state['other']['id'])[0]['following'])

check('followers of the other account, paginated', lambda: any(
    a['username'] == 'pyuser' for a in state['api'].account_followers(state['other']['id'], limit=10)))

check('unfollow', lambda: not state['api'].account_unfollow(state['other']['id'])['following'])

check('a wrong password is refused', lambda: _refused(lambda: Mastodon(
    client_id=state['app'][0], client_secret=state['app'][1], api_base_url=base).log_in(
    'pyuser@example.com', 'wrong password')))



print('1..%d' % len(results))
for i, (ok, name, why) in enumerate(results, 1):
    print('%s %d - %s' % ('ok' if ok else 'not ok', i, name))
    if why:
        for line in why.splitlines():
            print('# ' + line)
