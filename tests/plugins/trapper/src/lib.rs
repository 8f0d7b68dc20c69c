//! A webhook that traps when the body is `trap` and loops when it is
//! `loop`; otherwise answers 200 (after checking its secret exists).

use wasmux_sdk::*;

struct Trapper;

impl WebhookHandler for Trapper {
    fn handle(req: HttpRequest) -> Result<Reply, PluginError> {
        match req.body.as_slice() {
            b"trap" => core::arch::wasm32::unreachable(),
            b"loop" => loop {
                std::hint::black_box(0u8);
            },
            _ => {}
        }
        if !crypto::has_secret("secret") {
            return Err(error(ErrorKind::Unauthorized, "no secret"));
        }
        Ok(reply(json_response(200, "{\"ok\":true}")))
    }
}

wasmux_sdk::webhook!(Trapper);
