//! Who this tab is on the presence list: a client id of its own (one per page load, so two
//! tabs are two clients), and the browser's person id and display name, kept in local
//! storage so that every tab of this browser shows as one person, under one name, across
//! visits. Browser only.

use board_core::presence::{clean_name, friendly_name, random_id, Identity};

const PERSON_KEY: &str = "board.person";
const NAME_KEY: &str = "board.name";

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// This tab's identity: a new client id, and the stored person and name (made up and
/// stored the first time); and the tab's secret, which claims its client id on the server
/// (`presence::check_secret`): made anew with the id, kept in memory only.
pub fn load() -> (Identity, String) {
    let random = js_sys::Math::random;
    let storage = storage();
    let stored = |key: &str| storage.as_ref().and_then(|s| s.get_item(key).ok().flatten());
    let person =
        stored(PERSON_KEY).filter(|p| board_core::presence::check_id("person", p).is_ok()).unwrap_or_else(|| {
            let person = random_id(16, random);
            if let Some(storage) = &storage {
                let _ = storage.set_item(PERSON_KEY, &person);
            }
            person
        });
    let name = stored(NAME_KEY).and_then(|n| clean_name(&n)).unwrap_or_else(|| {
        let name = friendly_name(random(), random());
        if let Some(storage) = &storage {
            let _ = storage.set_item(NAME_KEY, &name);
        }
        name
    });
    (Identity { client: random_id(12, random), person, name }, random_id(24, random))
}

/// Keeps a new display name for this browser's next tabs.
pub fn save_name(name: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(NAME_KEY, name);
    }
}
