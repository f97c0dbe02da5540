//! Unpacking an OpenPGP signed message into its literal data and signature packets.
//!
//! rPGP's message-level verification refuses a one-pass v3 packet with a v3 signature (the
//! form of Red Hat's 2019-2022 signatures), so the packets are walked here and each signature
//! packet is later verified directly against the literal data.

use std::io::BufReader;

use pgp::packet::{Packet, PacketParser, PacketTrait, Signature};

/// Signed messages are small; anything bigger than this after decompression is refused.
const MAX_LITERAL_BYTES: usize = 1 << 20;

/// The parts of a signed message that matter for verification.
#[derive(Debug)]
pub struct SignedMessage {
    /// The literal data (the signed JSON document).
    pub literal: Vec<u8>,
    /// Every signature packet found.
    pub signatures: Vec<Signature>,
}

/// Parses `bytes` as a binary OpenPGP message, compressed or not.
pub fn parse(bytes: &[u8]) -> Result<SignedMessage, String> {
    let mut out = SignedMessage {
        literal: Vec::new(),
        signatures: Vec::new(),
    };
    let mut literal_seen = false;
    walk(bytes, &mut out, &mut literal_seen, 0)?;
    if !literal_seen {
        return Err("not an OpenPGP signed message: no literal data packet".into());
    }
    if out.signatures.is_empty() {
        return Err("the OpenPGP message is not signed".into());
    }
    Ok(out)
}

fn walk(
    bytes: &[u8],
    out: &mut SignedMessage,
    literal_seen: &mut bool,
    depth: u8,
) -> Result<(), String> {
    if depth > 2 {
        return Err("OpenPGP message nests compressed packets too deeply".into());
    }
    let mut any = false;
    for packet in PacketParser::new(BufReader::new(bytes)) {
        let packet = packet.map_err(|e| format!("not a valid OpenPGP message: {e}"))?;
        any = true;
        match packet {
            Packet::CompressedData(c) => {
                let mut inner = Vec::new();
                let reader = c
                    .decompress()
                    .map_err(|e| format!("cannot decompress the OpenPGP message: {e}"))?;
                use std::io::Read;
                reader
                    .take(MAX_LITERAL_BYTES as u64 + 1)
                    .read_to_end(&mut inner)
                    .map_err(|e| format!("cannot decompress the OpenPGP message: {e}"))?;
                if inner.len() > MAX_LITERAL_BYTES {
                    return Err("the OpenPGP message decompresses to more than 1 MiB".into());
                }
                walk(&inner, out, literal_seen, depth + 1)?;
            }
            Packet::LiteralData(l) => {
                if *literal_seen {
                    return Err(
                        "the OpenPGP message holds more than one literal data packet".into(),
                    );
                }
                *literal_seen = true;
                out.literal = l.data().to_vec();
            }
            Packet::Signature(s) => out.signatures.push(s),
            Packet::OnePassSignature(_) | Packet::Marker(_) | Packet::Padding(_) => {}
            other => {
                return Err(format!(
                    "unexpected {:?} packet in a signed message",
                    other.tag()
                ))
            }
        }
    }
    if !any {
        return Err("empty or unreadable OpenPGP message".into());
    }
    Ok(())
}
