// Verifies the resident's access history in the browser, trusting nothing the page claims:
//  (a) the checkpoint is a C2SP signed note signed by the log's verifier key (Ed25519, WebCrypto), and at least
//      the quorum of the hub's witnesses cosigned it (tlog-cosignature cosignature/v1), else it names them;
//  (b) each entry's leaf bytes hash (RFC 9162: SHA-256(0x00 || leaf)) to its leaf hash, the leaf says what
//      the entry shows, and its inclusion proof (RFC 9162 §2.1.3.2) leads to the checkpoint's root.
// Same algorithms as audit/checkpoint.py and audit/merkle.py.
(function () {
  "use strict";
  var panel = document.getElementById("verify-panel");
  var button = document.getElementById("verify-button");
  var status = document.getElementById("verify-status");
  if (!panel || !button || !status) { return; }
  var enc = new TextEncoder();

  function msg(name) { return panel.getAttribute("data-msg-" + name) || name; }

  function b64decode(text) {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) { throw new Error("bad base64"); }
    var bin = atob(text);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out;
  }

  function concat() {
    var total = 0, i;
    for (i = 0; i < arguments.length; i++) { total += arguments[i].length; }
    var out = new Uint8Array(total), at = 0;
    for (i = 0; i < arguments.length; i++) { out.set(arguments[i], at); at += arguments[i].length; }
    return out;
  }

  function equal(a, b) {
    if (a.length !== b.length) { return false; }
    var diff = 0;
    for (var i = 0; i < a.length; i++) { diff |= a[i] ^ b[i]; }
    return diff === 0;
  }

  function hex(bytes) {
    return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
  }

  function sha256(bytes) {
    return crypto.subtle.digest("SHA-256", bytes).then(function (d) { return new Uint8Array(d); });
  }

  function nodeHash(left, right) { return sha256(concat(new Uint8Array([1]), left, right)); }

  // C2SP verifier key: <name>+<hex key id>+<base64(0x01 || 32-byte Ed25519 key)>; the key id must match.
  async function parseVerifierKey(text) {
    var first = text.indexOf("+"), second = text.indexOf("+", first + 1);
    if (first <= 0 || second < 0) { throw new Error("malformed verifier key"); }
    var name = text.slice(0, first), idHex = text.slice(first + 1, second).toLowerCase();
    var raw = b64decode(text.slice(second + 1));
    if (raw.length !== 33 || raw[0] !== 1 || !/^[0-9a-f]{8}$/.test(idHex)) { throw new Error("unsupported key"); }
    var pub = raw.slice(1);
    var kid = (await sha256(concat(enc.encode(name), new Uint8Array([0x0a, 0x01]), pub))).slice(0, 4);
    if (hex(kid) !== idHex) { throw new Error("key id mismatch"); }
    return { name: name, keyId: kid, publicKey: pub };
  }

  // C2SP signed note: text up to the last blank line, then "— <name> <base64(key id || signature)>" lines.
  async function verifyCheckpoint(note, key) {
    if (note.slice(-1) !== "\n") { throw new Error("note does not end in a newline"); }
    var split = note.lastIndexOf("\n\n");
    if (split < 0) { throw new Error("no signature block"); }
    var body = note.slice(0, split + 1);
    var lines = note.slice(split + 2, -1).split("\n");
    var prefix = "\u2014 " + key.name + " ";
    var mine = [];
    lines.forEach(function (line) {
      if (line.indexOf(prefix) !== 0) { return; }
      var blob = b64decode(line.slice(prefix.length));
      if (blob.length > 4 && equal(blob.slice(0, 4), key.keyId)) { mine.push(blob.slice(4)); }
    });
    if (mine.length !== 1 || mine[0].length !== 64) { throw new Error("no single signature by the log key"); }
    var publicKey = await crypto.subtle.importKey("raw", key.publicKey, { name: "Ed25519" }, false, ["verify"]);
    var ok = await crypto.subtle.verify({ name: "Ed25519" }, publicKey, mine[0], enc.encode(body));
    if (!ok) { throw new Error("bad checkpoint signature"); }
    var fields = body.slice(0, -1).split("\n");
    if (fields.length < 3 || !/^(0|[1-9][0-9]*)$/.test(fields[1])) { throw new Error("malformed checkpoint"); }
    var root = b64decode(fields[2]);
    if (root.length !== 32) { throw new Error("bad root hash"); }
    return { origin: fields[0], size: BigInt(fields[1]), root: root, body: body };
  }

  // C2SP tlog-cosignature vkey: <name>+<hex key id>+<base64(0x04 || 32-byte Ed25519 key)>, key id
  // SHA-256(name || 0x0A || 0x04 || key)[:4]; the same checks as audit/witness/protocol.py.
  async function parseWitnessKey(text) {
    var first = text.indexOf("+"), second = text.indexOf("+", first + 1);
    if (first <= 0 || second < 0) { throw new Error("malformed witness key"); }
    var name = text.slice(0, first), idHex = text.slice(first + 1, second).toLowerCase();
    var raw = b64decode(text.slice(second + 1));
    if (raw.length !== 33 || raw[0] !== 4) { throw new Error("not a cosignature/v1 key"); }
    var pub = raw.slice(1);
    var kid = (await sha256(concat(enc.encode(name), new Uint8Array([0x0a, 0x04]), pub))).slice(0, 4);
    if (hex(kid) !== idHex) { throw new Error("key id mismatch"); }
    return { name: name, keyId: kid, publicKey: pub };
  }

  // Each configured witness's cosignature/v1 line: key id || u64 big-endian time || Ed25519 signature over
  // "cosignature/v1\ntime <time>\n" + the checkpoint body. Returns null when at least the quorum verify,
  // otherwise the names of the witnesses whose cosignature is missing or not valid.
  async function lackingWitnesses(note, body) {
    var vkeys = (panel.getAttribute("data-witnesses") || "").split(/\s+/).filter(Boolean);
    if (!vkeys.length) { return null; }
    var quorum = parseInt(panel.getAttribute("data-witness-quorum") || String(vkeys.length), 10);
    var lines = note.slice(note.lastIndexOf("\n\n") + 2, -1).split("\n");
    var valid = 0, lacking = [];
    for (var i = 0; i < vkeys.length; i++) {
      var witness;
      try { witness = await parseWitnessKey(vkeys[i]); } catch (err) { lacking.push(vkeys[i].split("+")[0]); continue; }
      var prefix = "\u2014 " + witness.name + " ";
      var mine = [];
      lines.forEach(function (line) {
        if (line.indexOf(prefix) !== 0) { return; }
        try {
          var blob = b64decode(line.slice(prefix.length));
          if (blob.length > 4 && equal(blob.slice(0, 4), witness.keyId)) { mine.push(blob.slice(4)); }
        } catch (err) { /* a malformed line is as good as none */ }
      });
      if (mine.length !== 1 || mine[0].length !== 72) { lacking.push(witness.name); continue; }
      var time = 0n;
      for (var b = 0; b < 8; b++) { time = (time << 8n) | BigInt(mine[0][b]); }
      var message = enc.encode("cosignature/v1\ntime " + time.toString() + "\n" + body);
      var key = await crypto.subtle.importKey("raw", witness.publicKey, { name: "Ed25519" }, false, ["verify"]);
      if (await crypto.subtle.verify({ name: "Ed25519" }, key, mine[0].slice(8), message)) {
        valid += 1;
      } else {
        lacking.push(witness.name);
      }
    }
    return valid >= quorum ? null : lacking;
  }

  function bitLength(x) { return x === 0n ? 0 : x.toString(2).length; }
  function popCount(x) { return x.toString(2).split("").filter(function (c) { return c === "1"; }).length; }

  // RFC 9162 §2.1.3.2, as audit/merkle.py root_from_inclusion_proof.
  async function rootFromInclusion(leafHash, index, size, proof) {
    if (index < 0n || index >= size) { throw new Error("index beyond size"); }
    var inner = bitLength(index ^ (size - 1n));
    var border = popCount(index >> BigInt(inner));
    if (proof.length !== inner + border) { throw new Error("wrong proof size"); }
    var seed = leafHash;
    for (var i = 0; i < proof.length; i++) {
      if (proof[i].length !== 32) { throw new Error("bad proof hash"); }
      if (i < inner && ((index >> BigInt(i)) & 1n) === 0n) {
        seed = await nodeHash(seed, proof[i]);
      } else {
        seed = await nodeHash(proof[i], seed);
      }
    }
    return seed;
  }

  async function verifyEntry(el, checkpoint) {
    var leafHash = b64decode(el.getAttribute("data-leaf-hash") || "");
    var size = BigInt(el.getAttribute("data-tree-size"));
    if (size !== checkpoint.size) { throw new Error("proof is for another tree size"); }
    // The leaf itself: its hash, and that it records what this entry shows.
    var leaf = b64decode(el.getAttribute("data-leaf") || "");
    if (!leaf.length) { throw new Error("no leaf"); }
    if (!equal(await sha256(concat(new Uint8Array([0]), leaf)), leafHash)) { throw new Error("leaf hash mismatch"); }
    var event = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(leaf));
    var shown = {
      event_id: el.getAttribute("data-event-id"),
      occurred_at: el.getAttribute("data-occurred-at"),
      kind: el.getAttribute("data-kind"),
      outcome: el.getAttribute("data-outcome"),
      document_type: el.getAttribute("data-document-type"),
      actor_org: el.getAttribute("data-org"),
      basis: el.getAttribute("data-basis")
    };
    Object.keys(shown).forEach(function (k) {
      if ((event[k] === null || event[k] === undefined ? "" : String(event[k])) !== shown[k]) {
        throw new Error("leaf does not match the entry: " + k);
      }
    });
    var proofText = (el.getAttribute("data-proof") || "").trim();
    var proof = proofText ? proofText.split(/\s+/).map(b64decode) : [];
    var index = BigInt(el.getAttribute("data-leaf-index"));
    var root = await rootFromInclusion(leafHash, index, size, proof);
    if (!equal(root, checkpoint.root)) { throw new Error("root mismatch"); }
  }

  function mark(el, result) {
    var out = el.querySelector(".verify-result");
    if (!out) { return; }
    out.setAttribute("data-result", result);
    out.textContent = result === "verified" ? "\u2713 " + msg("verified")
      : result === "failed" ? "\u2717 " + msg("failed") : msg("pending");
  }

  function report(result, text) {
    status.setAttribute("data-result", result);
    status.textContent = text;
    button.disabled = false;
    panel.removeAttribute("aria-busy");
  }

  async function run() {
    button.disabled = true;
    panel.setAttribute("aria-busy", "true");
    status.setAttribute("data-result", "running");
    status.textContent = msg("running");
    var entries = Array.prototype.slice.call(document.querySelectorAll("#history .entry"));
    var proven = entries.filter(function (el) { return el.hasAttribute("data-tree-size"); });
    var pending = entries.length - proven.length;
    entries.forEach(function (el) { if (!el.hasAttribute("data-tree-size")) { mark(el, "pending"); } });
    if (!window.crypto || !crypto.subtle) { report("failed", msg("unsupported")); return; }
    var checkpoint, lacking;
    try {
      var key = await parseVerifierKey(panel.getAttribute("data-verifier-key") || "");
      var note = document.getElementById("checkpoint").textContent;
      checkpoint = await verifyCheckpoint(note, key);
      lacking = await lackingWitnesses(note, checkpoint.body);
    } catch (err) {
      proven.forEach(function (el) { mark(el, "failed"); });
      var unsupported = err && (err.name === "NotSupportedError" || err.name === "DataError" && /Ed25519/.test(String(err.message)));
      report("failed", unsupported ? msg("unsupported") : msg("checkpoint-bad"));
      return;
    }
    if (lacking) {
      // Signed by the log alone (or too few witnesses): it could be a history shown to this resident only.
      proven.forEach(function (el) { mark(el, "failed"); });
      report("failed", "\u2717 " + msg("witness-missing").replace("{names}", lacking.join(", ")));
      return;
    }
    var failed = 0;
    for (var i = 0; i < proven.length; i++) {
      try {
        await verifyEntry(proven[i], checkpoint);
        mark(proven[i], "verified");
      } catch (err) {
        failed += 1;
        mark(proven[i], "failed");
      }
    }
    var note = pending ? " " + msg("pending-note") : "";
    if (failed) {
      report("failed", "\u2717 " + msg("some-failed") + note);
    } else if (!proven.length) {
      report(pending ? "pending" : "none", (pending ? msg("pending") : msg("none")));
    } else {
      report("verified", "\u2713 " + msg("all-ok") + note);
    }
  }

  button.addEventListener("click", function () {
    run().catch(function () { report("failed", msg("some-failed")); });
  });
})();
