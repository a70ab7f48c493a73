"""A hand-made mutation run: each mutant is one small, plausible bug (a file, the exact text
it changes and what it becomes). Each is applied in turn to a *copy* of the repository,
the tests that should notice are run, and the file is put back; the table says which test
killed each mutant, or that none did.

    git clone /path/to/repo /tmp/mutants && cd /tmp/mutants   # never in your working tree
    ln -s /path/to/repo/.venv /path/to/repo/models .
    .venv/bin/python -m scripts.mutants --tree . [--system] [--only ID ...]

For each mutant: its `unit` test files first (pytest -x: the first failure is enough), then,
if they all pass, the whole of tests/unit; with --system, a survivor of tests/unit is run
against its `system` test files too. Standard library only. docs/testing.md has the table.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Mutant:
    id: str
    file: str
    old: str
    new: str
    what: str
    unit: tuple[str, ...] = ()  # the tests/unit files most likely to kill it, tried first
    system: tuple[str, ...] = ()  # tests/system files for a survivor of tests/unit


U = "tests/unit/"
S = "tests/system/"

MUTANTS = (
    # --- core: fields, forms, uploads, edits, making, fetching
    Mutant("colour-anchor", "app/core/fields.py", 'r"^#[0-9a-fA-F]{6}$"',
           'r"^#[0-9a-fA-F]{6}"', "a colour without its `$`: #123456zz accepted",
           (U + "test_doors.py", U + "test_forms.py")),
    Mutant("jpeg-upload", "app/core/forms.py", "    _check_format(upload.output, upload.format)",
           "    pass", "the upload's JPEG-cannot-hold-transparency check removed",
           (U + "test_doors.py", U + "test_forms.py")),
    Mutant("jpeg-options", "app/core/forms.py",
           '    if file_format == "jpeg" and output not in OPAQUE:',
           '    if file_format == "jpeg" and output not in OPAQUE + ("transparent",):',
           "a transparent JPEG allowed (the edit's check)",
           (U + "test_doors.py", U + "test_forms.py")),
    Mutant("stale-409", "app/core/results.py",
           'raise Rejected("conflict", CHANGED, "conflict")',
           'raise Rejected("conflict", CHANGED, "engine")',
           "a concurrent change during an edit answered 502 instead of 409",
           (U + "test_edit_races.py",)),
    Mutant("limit-count", "app/core/uploads.py",
           "if self.records.count(visitor) >= self.user_limit:",
           "if self.records.count(visitor) > self.user_limit:",
           "one record more than USER_LIMIT accepted", (U + "test_api.py", U + "test_pages.py")),
    Mutant("edit-name-dropped", "app/core/edits.py",
           '            changes["image_name"] = request.image_name',
           "            pass", "a restyle that also renames keeps the old name",
           (U + "test_doors.py", U + "test_edits.py", U + "test_bodies.py")),
    Mutant("edit-backdrop-kept", "app/core/edits.py",
           "backdrop=backdrop if options.output == \"image\" else None, mask=kept,",
           "backdrop=backdrop if options.output == \"image\" else None, mask=None,",
           "an edit runs the model again instead of using the kept mask",
           (U + "test_edits.py",)),
    Mutant("fetch-chunk-past", "app/core/fetching/client.py",
           "        if len(body) > max_bytes:", "        if len(body) > max_bytes + _CHUNK:",
           "a body without Content-Length allowed one 64 KB chunk past the limit",
           (U + "test_fetching_http.py",), (S + "test_fetching_live.py",)),
    Mutant("fetch-length", "app/core/fetching/client.py",
           "and int(declared) > max_bytes:", "and int(declared) > max_bytes + 1:",
           "a declared length of one byte past the limit read anyway",
           (U + "test_fetching_http.py",), (S + "test_fetching_live.py",)),
    Mutant("fetch-redirects", "app/core/fetching/client.py",
           "        for hops in range(max_redirects + 1):",
           "        for hops in range(max_redirects + 2):",
           "one redirect more than the limit followed",
           (U + "test_fetching_http.py",), (S + "test_fetching_live.py",)),
    Mutant("fetch-deadline", "app/core/fetching/client.py",
           "    deadline = Deadline(timeout)", "    deadline = Deadline(timeout * 10)",
           "the whole fetch's deadline ten times longer",
           (U + "test_fetching_http.py",), (S + "test_fetching_live.py",)),
    Mutant("fetch-redirect-check", "app/core/fetching/client.py",
           "            if location is None:\n                if not body:",
           "            if location is not None:\n                return b''\n"
           "            if location is None:\n                if not body:",
           "a redirect answered as an empty photo",
           (U + "test_fetching_http.py",), (S + "test_fetching_live.py",)),
    Mutant("gate-bound", "app/core/fetching/gate.py",
           "if len(self._started) >= self.slots:", "if len(self._started) > self.slots:",
           "one fetch more than URL_FETCH_CONCURRENCY let through",
           (U + "test_fetch_gate.py",)),
    Mutant("gate-leak", "app/core/fetching/gate.py",
           "                self._started.remove(began)", "                pass",
           "a finished fetch keeps its place at the gate", (U + "test_fetch_gate.py",)),
    Mutant("port-range", "app/core/fetching/targets.py", "if not 1 <= port <= 65535:",
           "if not 1 <= port <= 65536:", "port 65536 accepted", (U + "test_fetching_urls.py",)),
    Mutant("userinfo", "app/core/fetching/targets.py", '    if "@" in netloc:',
           '    if "@@" in netloc:', "user:password@host addresses accepted",
           (U + "test_fetching_urls.py",)),
    # --- http: limits, bodies, cookie, headers, downloads
    Mutant("limits-whole", "app/http/limits.py", "min(charge.cost, charge.item.amount)",
           "charge.cost",
           "a job past a whole allowance refused forever instead of taking it all",
           (U + "test_prices.py", U + "test_admission.py")),
    Mutant("limits-test-only", "app/http/limits.py",
           "            if not limiter.hit(charge.item, charge.key, cost=charge.cost):",
           "            if not limiter.hit(charge.item, charge.key, cost=1):",
           "every upload counted as one",
           (U + "test_prices.py",)),
    Mutant("limits-retry", "app/http/limits.py", "wait = max(1, math.ceil(until - time.time()))",
           "wait = 60", "Retry-After always a minute", (U + "test_protections.py",)),
    Mutant("json-limit", "app/http/bodies.py", "    if len(raw) > limit:",
           "    if len(raw) > limit * 2:", "a JSON body past 16 KB without a length read",
           (U + "test_bodies.py",)),
    Mutant("json-repeated", "app/http/bodies.py",
           "        if key in body:\n            raise repeated(key)",
           "        if key in body and False:\n            raise repeated(key)",
           "a key sent twice: the last value kept silently", (U + "test_bodies.py",)),
    Mutant("cookie-verify", "app/http/visitor.py", "    return value if is_id(value) else None",
           "    return value", "a signed cookie holding a non-id accepted",
           (U + "test_security.py",)),
    Mutant("cookie-httponly", "app/http/visitor.py", "httponly=True", "httponly=False",
           "the visitor cookie readable by scripts", (U + "test_security.py",)),
    Mutant("hsts", "app/http/headers.py", "    if request.is_secure:", "    if False:",
           "no Strict-Transport-Security over HTTPS", (U + "test_protections.py",)),
    Mutant("download-dot", "app/http/downloads.py", '.lstrip(".-") or "image"',
           '.lstrip("-") or "image"', "a download name may start with a dot",
           (U + "test_images.py", U + "test_records.py")),
    # --- http and storage: API keys
    Mutant("key-query", "app/http/callers.py",
           '    header = None\n    if "X-Api-Key" in request.headers:',
           '    header = request.args.get("api_key")\n    if "X-Api-Key" in request.headers:',
           "a key read from the query string (where logs and Referers keep it)",
           (U + "test_keys.py",)),
    Mutant("key-page", "app/http/callers.py", "given = _given() if here.keys else None",
           "given = _given()", "the page's forms take a key instead of their CSRF token",
           (U + "test_keys.py",)),
    Mutant("csrf-switch", "app/http/callers.py", 'if (config["WTF_CSRF_ENABLED"] and ',
           "if (True and ", "WTF_CSRF_ENABLED=False ignored", (U + "test_keys.py",)),
    Mutant("chunk-whole", "app/services.py", "RecordRepository(database, embedded=embedded)",
           "RecordRepository(database)", "the embedded store back to 255 KB chunks",
           (U + "test_repository_contract.py",)),
    Mutant("chunk-index", "app/storage/embedded.py",
           'database[f"{bucket}.chunks"].create_index([("files_id", 1), ("n", 1)])',
           "pass", "the embedded store's chunks left to GridFS's unique index (a scan a file)",
           (U + "test_repository_contract.py",)),
    Mutant("key-csrf", "app/http/callers.py",
           '        if (config["WTF_CSRF_ENABLED"] and request.method in '
           'config["WTF_CSRF_METHODS"]\n                and request.endpoint):',
           "        if False:", "no CSRF check for callers without a key",
           (U + "test_security.py", U + "test_keys.py")),
    Mutant("key-required", "app/http/callers.py", "needed = here.key_required or (",
           "needed = False and (", "API_REQUIRE_KEY (and a door that needs a key) ignored",
           (U + "test_keys.py",)),
    Mutant("key-own-limits", "app/http/limits.py", "    if key is None:\n        per_visitor",
           "    if True:\n        per_visitor", "a key counted against the address's limits",
           (U + "test_keys.py",)),
    Mutant("key-megapixel-up", "app/http/limits.py", "max(1, math.ceil(work.pixels / 1e6))",
           "max(1, int(work.pixels / 1e6))", "a key's megapixels rounded down, not up",
           (U + "test_keys.py",)),
    Mutant("key-revoked", "app/storage/keys.py", '{"digest": wanted, "revoked": None}',
           '{"digest": wanted}', "a revoked key still accepted", (U + "test_keys.py",)),
    Mutant("key-usage-set", "app/storage/keys.py",
           '{"$inc": {"calls": 1, "megapixels": megapixels}}',
           '{"$set": {"calls": 1, "megapixels": megapixels}}',
           "usage overwritten, not added: parallel calls lost", (U + "test_keys.py",)),
    Mutant("key-short", "app/setting_types.py", "        if len(key) < SHORTEST_SECRET:",
           "        if len(key) < SHORTEST_SECRET - 1:", "a 15-character key in API_KEYS accepted",
           (U + "test_keys.py",)),
    # --- images: decoding, compose, backdrops, refine, resample, pngwriter, thumbnails
    Mutant("pixel-limit", "app/images/decoding.py", "if width * height > max_pixels:",
           "if width * height >= max_pixels:", "exactly MAX_IMAGE_PIXELS refused",
           (U + "test_prices.py", U + "test_imaging.py")),
    Mutant("animated", "app/images/decoding.py",
           'if getattr(img, "is_animated", False) and img.format != "MPO":',
           'if getattr(img, "is_animated", False) and img.format == "GIF":',
           "animated PNG and WebP accepted", (U + "test_imaging.py",)),
    Mutant("blur-weight", "app/images/backdrops.py",
           "weight = 1.0 - np.asarray(box_reduced(matte, size, small), np.float64)",
           "weight = 0.0 + np.asarray(box_reduced(matte, size, small), np.float64)",
           "the blurred background weighted by the subject (a halo of its colour)",
           (U + "test_output.py",)),
    Mutant("over-rounding", "app/images/compose.py", "(255 - a) + 127) // 255)",
           "(255 - a)) // 255)", "laying over a colour rounds down", (U + "test_output.py",)),
    Mutant("crop-margin", "app/images/compose.py",
           "margin = round(max(bottom - top, right - left) * margin_percent / 100)",
           "margin = round(min(bottom - top, right - left) * margin_percent / 100)",
           "the crop margin taken from the shorter side", (U + "test_output.py",)),
    Mutant("alpha-zero-colour", "app/images/compose.py", "    words *= matte != 0",
           "    words *= True", "invisible pixels keep their colour", (U + "test_output.py",)),
    Mutant("cover-centre", "app/images/backdrops.py",
           "left, top = (scaled_w - width) // 2, (scaled_h - height) // 2",
           "left, top = 0, 0", "a background photo cropped from its corner, not its centre",
           (U + "test_output.py",)),
    Mutant("matte-known-value", "app/images/matting.py",
           "    return ~unsure, (mask >= 0.5).astype(np.float64)",
           "    return ~unsure, (mask >= 0.9).astype(np.float64)",
           "the trimap's known pixels read from a thinner matte",
           (U + "test_matting.py", U + "test_refine.py")),
    Mutant("matte-doubt", "app/images/matting.py", "LOW, HIGH, MARGIN = 0.05, 0.95, 1",
           "LOW, HIGH, MARGIN = 0.3, 0.7, 1",
           "the trimap's doubt read narrowly: mask values 0.05-0.3 and 0.7-0.95 taken as sure",
           (U + "test_matting.py", U + "test_refine.py")),
    Mutant("matte-sure-guard", "app/images/matting.py",
           "    a[sure], b[sure] = 0, sure_value[sure]", "    pass",
           "the carried coefficients free where the mask is sure: an odd colour inside the "
           "subject opens a hole", (U + "test_matting.py", U + "test_output.py")),
    Mutant("matte-carry", "app/images/matting.py",
           "    a, b = linear_model(guide, solved, CARRY_EPS)",
           "    a, b = np.zeros(guide.shape), solved",
           "the fine matte scaled up bilinearly, its linear model not carried to full size",
           (U + "test_matting.py", U + "test_refine.py")),
    Mutant("despill-soft", "app/images/refine.py", "ys, xs = np.nonzero((band > 0) & (band < 255))",
           "ys, xs = np.nonzero((band >= 0) & (band <= 255))",
           "despill recolours opaque and transparent pixels too", (U + "test_refine.py",)),
    Mutant("resample-round", "app/images/resample.py",
           "np.where(scaled < 0, scaled - 0.5, scaled + 0.5)",
           "np.where(scaled < 0, scaled, scaled)", "resampling weights truncated, not rounded",
           (U + "test_resample.py",)),
    Mutant("png-adler", "app/images/pngwriter.py",
           "low = ((first & 0xFFFF) + (second & 0xFFFF) - 1) % base",
           "low = ((first & 0xFFFF) + (second & 0xFFFF)) % base",
           "the PNG's combined checksum off by one", (U + "test_pngwriter.py",)),
    Mutant("png-filter", "app/images/pngwriter.py",
           "out[0, 1:1 + channels] = flat[0, :channels]", "out[0, 1:1 + channels] = 0",
           "the first pixel of every band lost", (U + "test_pngwriter.py",)),
    Mutant("webp-effort", "app/images/thumbnails.py", "METHOD = 2", "METHOD = 0",
           "renditions at libwebp's least effort: colour strays beside the subject",
           (U + "test_thumbnails.py",)),
    Mutant("thumb-fit", "app/images/thumbnails.py",
           "_renditions(result, result.size if look.crop else whole)",
           "_renditions(result, result.size)",
           "a result's renditions fitted to the working image, not the full one (a row off)",
           (U + "test_thumbnails.py",)),
    Mutant("thumb-same", "app/images/thumbnails.py",
           "    if target == img.size:\n        return img", "    if True:\n        return img",
           "renditions not scaled down",
           (U + "test_thumbnails.py",)),
    # --- engines: admission, runner, rapidapi, settings
    Mutant("price-round", "app/engines/admission.py",
           "max(1, math.ceil(factor * self.pixels / PIXELS_PER_COUNT))",
           "max(1, int(factor * self.pixels / PIXELS_PER_COUNT))",
           "an upload's price rounded down instead of up", (U + "test_prices.py",)),
    Mutant("price-refine", "app/engines/admission.py",
           "        factor = REFINE_FACTOR if self.refine else 1.0\n        return max(",
           "        factor = 1.0\n        return max(", "refined edges priced like plain ones",
           (U + "test_prices.py",)),
    Mutant("line-bound", "app/engines/admission.py",
           "if len(self._line) + self._elsewhere >= self.max_waiting or wait > self.max_wait:",
           "if len(self._line) + self._elsewhere > self.max_waiting or wait > self.max_wait:",
           "one more upload waits than BG_MAX_WAITING", (U + "test_admission.py",)),
    Mutant("slot-given-back", "app/engines/admission.py",
           "                self._free += 1\n", "", "a finished turn keeps its work slot",
           (U + "test_admission.py", U + "test_engine_runner.py")),
    Mutant("remote-twice", "app/engines/runner.py",
           "            if masked is None and failure is None:",
           "            if masked is None:",
           "a failed RapidAPI call asked again inside the turn before the fallback",
           (U + "test_engine_runner.py", U + "test_engine_rapidapi.py")),
    Mutant("remote-before-pay", "app/engines/runner.py",
           "        self.admission.check(work)\n            pay(work)",
           "        pay(work)\n            self.admission.check(work)",
           "the allowance spent before a busy line refuses", (U + "test_busy.py",
                                                               U + "test_admission.py")),
    Mutant("runtime-precision", "app/engines/runtimes.py",
           '"INFERENCE_PRECISION_HINT": "f32",', '"INFERENCE_PRECISION_HINT": "bf16",',
           "OpenVINO left to compute in bfloat16: faster, other masks",
           (U + "test_runtimes.py",)),
    Mutant("runtime-pinning", "app/engines/runtimes.py", '"ENABLE_CPU_PINNING": False,',
           '"ENABLE_CPU_PINNING": True,',
           "each worker's threads pinned to the first cores", (U + "test_runtimes.py",)),
    Mutant("runtime-streams", "app/engines/runtimes.py",
           '"NUM_STREAMS": streams if threads else 1,', '"NUM_STREAMS": 1,',
           "the process's slots share one stream: photos at once wait for each other",
           (U + "test_runtimes.py",)),
    Mutant("mask-truncated", "app/engines/local.py",
           "Image.fromarray(np.minimum(pred * 256, 255)", "Image.fromarray((pred * 255)",
           "the model's mask truncated to 8 bits: a subject 254 of 255 opaque throughout",
           (U + "test_engine_local.py",)),
    Mutant("mask-rounded", "app/engines/local.py",
           "Image.fromarray(np.minimum(pred * 256, 255)", "Image.fromarray(np.rint(pred * 255)",
           "the model's mask rounded: its faintest background lifted to 1 (2% more PNG)",
           (U + "test_engine_local.py",)),
    Mutant("openvino-warm-up", "app/engines/runtimes.py",
           "        self.compiled.create_infer_request().infer({0: np.zeros(",
           "        dict({0: np.zeros(",
           "no inference as the model loads: two threads' first one at once can hang both",
           (U + "test_runtimes.py",)),
    Mutant("runtime-pool", "app/engines/runtimes.py", "                self._idle.put(request)",
           "                pass", "a request not kept for the next photo: one made per photo",
           (U + "test_runtimes.py",)),
    Mutant("runtime-release", "app/engines/runtimes.py",
           "                if not self._running and not self._keeps_tensors():",
           "                if not self._running:",
           "the intermediate tensors given back after every photo, large job or not",
           (U + "test_runtimes.py",)),
    Mutant("runtime-latest-only", "app/engines/runtimes.py",
           "return not _large_jobs and _latest is not None and _latest() is self",
           "return not _large_jobs", "every model keeps its tensors, not only the one used last",
           (U + "test_runtimes.py",)),
    Mutant("runtime-latest-give-back", "app/engines/runtimes.py",
           "            before.give_back()", "            pass",
           "a photo in another model leaves the idle model's tensors mapped",
           (U + "test_runtimes.py",)),
    Mutant("runtime-keep-boundary", "app/engines/runtimes.py",
           "    if pixels <= KEEP_TENSORS_UP_TO:", "    if pixels < KEEP_TENSORS_UP_TO:",
           "a job of exactly the size that keeps the tensors treated as a large one",
           (U + "test_runtimes.py",)),
    Mutant("runtime-give-back-first", "app/engines/runtimes.py",
           "            model.give_back()", "            pass",
           "a large job starts with the tensors of earlier photos still mapped",
           (U + "test_runtimes.py",)),
    Mutant("runtime-room-wiring", "app/engines/admission.py",
           "runtimes.room_for(work.pixels)", "runtimes.room_for(0)",
           "a turn not telling the models how large its job is",
           (U + "test_runtimes.py",)),
    Mutant("runtime-large-count", "app/engines/runtimes.py", "            _large_jobs -= 1",
           "            _large_jobs = 0",
           "the first of two large jobs to finish lets the models keep their tensors",
           (U + "test_runtimes.py",)),
    Mutant("runtime-setting", "app/engines/__init__.py", "runtime=settings.bg_runtime,",
           'runtime="openvino",', "BG_RUNTIME not passed to the engine",
           (U + "test_runtimes.py",)),
    Mutant("rapidapi-retry", "app/engines/rapidapi.py", "if response.status_code < 500:",
           "if response.status_code < 600:", "a 5xx from RapidAPI not retried",
           (U + "test_engine_rapidapi.py",)),
    Mutant("rapidapi-429", "app/engines/rapidapi.py",
           "        if response.status_code == 429:\n            raise QuotaExceeded()",
           "        if response.status_code == 430:\n            raise QuotaExceeded()",
           "RapidAPI's 429 told as a plain failure", (U + "test_engine_rapidapi.py",)),
    Mutant("secret-length", "app/settings.py", "len(self.secret_key) < SHORTEST_SECRET",
           "len(self.secret_key) < SHORTEST_SECRET - 1", "a 15-character secret key accepted",
           (U + "test_config.py",)),
    # --- storage: records, slots
    Mutant("stale-guard", "app/storage/records.py",
           ',\n                     "processed.file_id": ObjectId(record.processed.file_id)}',
           "}", "replace_result without its stale-record guard",
           (U + "test_repository_contract.py", U + "test_edit_races.py")),
    Mutant("stale-cleanup", "app/storage/records.py",
           "                raise StaleRecord(record.id)",
           "                stored.clear()\n                raise StaleRecord(record.id)",
           "a stale edit leaves its new files behind",
           (U + "test_repository_contract.py", U + "test_edit_races.py")),
    Mutant("rename-owner", "app/storage/records.py",
           "        doc = self.records.find_one_and_update(self._owned(user_id, record_id),",
           "        doc = self.records.find_one_and_update({\"_id\": ObjectId(record_id)},",
           "anyone may rename a record by its id", (U + "test_security.py",
                                                    U + "test_repository_contract.py")),
    Mutant("slot-lapse", "app/storage/slots.py",
           'records.delete_many({"user_id": user_id, RESERVED: {"$lte": now()}})',
           'records.delete_many({"user_id": user_id, RESERVED: {"$lte": now() - timedelta('
           'days=1)}})', "a dead holder's placeholder never lapses",
           (U + "test_slots.py", U + "test_limit_parallel.py")),
    # (First tried: fill() without `RESERVED: {"$exists": True}` in its query. Equivalent:
    # a placeholder becomes a record only through fill() itself, so no input tells it apart.)
    Mutant("slot-fill", "app/storage/slots.py", "record).matched_count != 1:",
           "record).matched_count > 1:",
           "a result whose placeholder lapsed and was cleared reported stored",
           (U + "test_slots.py",)),
    # --- found by an attack on a running server (2026-12-03), each with its test
    Mutant("form-nameless", "app/http/bodies.py", "    if not all(names):  # None, or \"\"",
           "    if False:", "a form part without a name reaches the CSRF check: a 500",
           (U + "test_form_parsing.py",)),
    Mutant("form-plain-bound", "app/http/bodies.py",
           "if part]) > MAX_FORM_PARTS):", "if part]) > MAX_FORM_PARTS + 1):",
           "a urlencoded form may have 51 fields", (U + "test_form_parsing.py",)),
    Mutant("key-twice", "app/http/callers.py",
           '        sent = {value.strip() for value in request.headers["X-Api-Key"].split(",")\n'
           '                if value.strip()} or {""}',
           '        sent = {request.headers["X-Api-Key"].strip()}',
           "X-Api-Key sent twice read as one unknown key", (U + "test_keys.py",)),
    Mutant("referrer-message", "app/http/errors.py",
           "else REFERRER_MESSAGES.get(exc.description, CSRF_MESSAGE))", "else CSRF_MESSAGE)",
           "a form without this site's Referer told its page had expired",
           (U + "test_security.py",)),
    Mutant("options-204", "app/http/__init__.py",
           "    def make_default_options_response(self):",
           "    def make_default_options_response_unused(self):",
           "OPTIONS answered with Flask's empty text/html body", (U + "test_api.py",)),
    Mutant("no-type-204", "app/http/headers.py", "    if response.status_code == 204:",
           '    if request.method == "OPTIONS":', "a deletion's 204 says its nothing is text/html",
           (U + "test_api.py",)),
    Mutant("if-match-first", "app/http/downloads.py",
           "    if request.if_match and not request.if_match.contains(etag):", "    if False:",
           "a failed If-Match answered with the image as its body", (U + "test_ranges.py",)),
    Mutant("range-ignore", "app/http/downloads.py",
           "    if first is not None and (last is None or int(first) <= int(last)):",
           "    if first is not None:", "a range whose end is before its start answered 416",
           (U + "test_ranges.py",)),
    Mutant("names-spaces", "app/core/fields.py", "    if value and not value.strip():",
           "    if False:", "a name of only spaces told '1 to 50 characters'",
           (U + "test_forms.py",)),
    Mutant("page-media-type", "app/http/bodies.py",
           "    if request.mimetype and request.mimetype not in FORM_TYPES:", "    if False:",
           "the page reads an XML body as an empty form ('give the image a name')",
           (U + "test_bodies.py",)),
    Mutant("names-not-text", "app/core/fields.py",
           "    if value is not None and not isinstance(value, (str, bytes)):", "    if False:",
           "a JSON number as a name told '1 to 50 characters'", (U + "test_bodies.py",)),
    Mutant("backdrop-named", "app/core/results.py",
           "        raise InvalidImage(BACKDROP_FAILED + exc.message, exc.kind) from None",
           "        raise", "a broken background photo told as if it were the photo",
           (U + "test_doors.py",)),
    Mutant("edit-same-look", "app/core/edits.py",
           "            if options == current and request.backdrop is None:",
           "            if options == current and request.backdrop is None and False:",
           "an edit to the look a record has is made again and charged",
           (U + "test_edit_charges.py",)),
    Mutant("deleted-404", "app/storage/records.py",
           "                    raise RecordNotFound(record.id)",
           "                    raise StaleRecord(record.id)",
           "an edit of a record deleted meanwhile told 409 'try again'",
           (U + "test_edit_races.py",)),
    Mutant("fetch-empty", "app/core/fetching/client.py",
           "                if not body:  # else", "                if False:  # else",
           "an address answering an empty body told 'the file is empty'",
           (U + "test_fetching_http.py",)),
    Mutant("fifo-regular", "app/batch/files.py",
           "        return stat.S_ISREG(os.stat(path).st_mode)", "        return True",
           "the batch command opens a FIFO in a folder (and waits for ever)",
           (U + "test_batch.py",)),
    Mutant("batch-private", "app/batch/files.py",
           "            return os.open(name, flags, 0o666), name",
           "            return os.open(name, flags, 0o600), name",
           "the batch command's outputs private (0600) whatever the umask",
           (U + "test_batch.py",)),
    Mutant("batch-front-502", "app/batch/senders.py", "RETRIED = (429, 502, 503)",
           "RETRIED = (429, 503)",
           "the batch command fails a photo the front answers 502 while the app restarts",
           (U + "test_batch_server.py",)),
    Mutant("batch-sweep-others", "app/batch/files.py",
           'glob(f".{glob.escape(target.name)}.{random_part}{PART}")',
           'glob(f".{glob.escape(target.name)}.*{PART}")',
           "sweeping a.png takes a.png.png's temporary file while another thread writes it",
           (U + "test_batch.py",)),
    Mutant("text-for-file", "app/http/bodies.py",
           "as_text = [name for name in file_fields if request.form.get(name)]", "as_text = []",
           "a photo's field sent as text read as no photo (remove.bg's background: dropped)",
           (U + "test_form_parsing.py",)),
    Mutant("json-long-int", "app/http/bodies.py", "parse_int=_integer)", "parse_int=int)",
           "a JSON integer of 4,301 digits told the body is no JSON object",
           (U + "test_bodies.py",)),
    Mutant("nameless-plain", "app/http/bodies.py",
           "NO_FIELD_NAME_PLAIN if plain else NO_FIELD_NAME", "NO_FIELD_NAME",
           "a nameless urlencoded field told of Content-Disposition",
           (U + "test_form_parsing.py",)),
    Mutant("file-in-edit", "app/core/forms.py",
           'if field in FILES and not isinstance(error["input"], bytes):', "if field in FILES:",
           "an edit sent a file told to send it with multipart/form-data, which it did",
           (U + "test_bodies.py",)),
    Mutant("two-in-one-key", "app/http/callers.py",
           'raise Rejected("invalid_key", TWO_IN_ONE, "unauthorized")',
           'raise Rejected("invalid_key", TWO_KEYS, "unauthorized")',
           "two X-Api-Key values blamed on Authorization", (U + "test_keys.py",)),
    Mutant("removebg-margin-fraction", "app/removebg/fields.py",
           "if not found and _PIXELS.match(part):", "if not found:",
           "crop_margin 10.5% or a word told pixels are not supported", (U + "test_removebg.py",)),
    Mutant("removebg-colour-number", "app/removebg/fields.py",
           'text = value.strip().lower() if isinstance(value, str) else ""',
           "text = str(value).strip().lower()",
           "bg_color 123 from JSON read as #112233", (U + "test_removebg.py",)),
    Mutant("removebg-opacity", "app/removebg/fields.py",
           "or int(str(opacity)) > 100:", ":",
           "shadow_opacity 101 taken", (U + "test_removebg.py",)),
    Mutant("escaped-not-utf8", "app/http/bodies.py",
           "    if not _escapes_are_utf8(raw):", "    if False:",
           "name=%ff stored as the name %FF", (U + "test_form_parsing.py",)),
    Mutant("batch-server-path", "app/batch/command.py",
           'if url.rstrip("/").endswith(API):', "if False:",
           "--server .../api/v1 called .../api/v1/api/v1/account and blamed its 404",
           (U + "test_batch.py",)),
    Mutant("batch-no-photo", "app/batch/runner.py",
           "if not (self.made or self.skipped or self.failed or self.interrupted):",
           "if False:", "a run that finds no photo says only 'made 0'", (U + "test_batch.py",)),
    Mutant("batch-out-is-source", "app/batch/command.py",
           "source.is_dir() and source.resolve() == out.resolve()", "False",
           "--out the folder being read: its photos skipped as their own outputs",
           (U + "test_batch.py",)),
    Mutant("batch-own-output", "app/batch/files.py",
           "        if there is not None:", "        if False:",
           "an output where a photo of the batch is taken for done (or written over it)",
           (U + "test_batch.py",)),
    Mutant("batch-background-unchecked", "app/batch/options.py",
           '            backdrop_of(values["background_image"], max_pixels)\n', "",
           "a background that is no photo fails every photo instead of the command",
           (U + "test_batch.py",)),
    Mutant("batch-lost-502", "app/batch/senders.py", "lost=answer.status_code == LOST)",
           "lost=False)", "the front's 502 sent again until --max-wait, however often it is lost",
           (U + "test_batch_server.py",)),
    Mutant("batch-lost-refused", "app/batch/senders.py",
           "return isinstance(getattr(cause, \"reason\", None), NewConnectionError)",
           "return False", "a refused connection counted as a photo the server lost",
           (U + "test_batch_server.py",)),
    Mutant("batch-lost-times", "app/batch/runner.py", "if lost == LOST_TIMES:",
           "if lost > LOST_TIMES:", "a photo the server lost sent once more than LOST_TIMES",
           (U + "test_batch_server.py",)),
    Mutant("front-log-method", "k8s/front/nginx.conf", '"method":"$request_line_method"',
           '"method":"$request_method"',
           "the front logs a POST it answered 502 as a GET (the error page's redirect)",
           (), (S + "test_front.py",)),
    Mutant("front-removebg-kind", "k8s/front/nginx.conf", '        429 "Rate limit exceeded";',
           '        429 "Request failed";',
           "the front's own 429 at remove.bg's door of another kind than the app's",
           (U + "test_removebg.py",)),
    Mutant("gunicorn-control-socket", "gunicorn.conf.py", "control_socket_disable = True",
           "control_socket_disable = False",
           "gunicorn's control socket made in ~/.gunicorn: an ERROR at each start in the pod",
           (), (S + "test_gunicorn.py",)),
    Mutant("front-removebg-shape", "k8s/front/nginx.conf",
           '        "~^/v1\\.0/" removebg;\n', "",
           "the front's own errors at remove.bg's door in the API's shape, not remove.bg's",
           (), (S + "test_front.py",)),
    Mutant("front-door-from-uri", "k8s/front/nginx.conf",
           '"~^\\|[A-Z]+ +(?i:https?://[^/]+)?/+api/" json;', '"~^$" json;',
           "the front tells the door by $uri alone, which a request refused as its path is "
           "decoded (a %00) does not have: HTML at the API's door", (),
           (S + "test_front_limits.py",)),
    Mutant("front-door-from-line", "k8s/front/nginx.conf", '        "~^/api/" json;\n', "",
           "the front tells the door by the request line alone: //api/, /./api/ and "
           "/%61pi/ get HTML", (), (S + "test_front_limits.py",)),
    Mutant("front-own-refusals", "k8s/front/nginx.conf",
           "error_page 400 494 404 405 413 414 429 500 501 502 503 504 505",
           "error_page 400 494 404 413 414 429 500 502 503 504",
           "TRACE, Transfer-Encoding: gzip and HTTP/2.0 get nginx's HTML at the JSON doors",
           (U + "test_removebg.py",), (S + "test_front_limits.py",)),
    Mutant("front-method-as-sent", "k8s/front/nginx.conf",
           '405 "$request_line_method is not allowed here.";',
           '405 "$request_method is not allowed here.";',
           "the front's 405 names GET, its error page's method, not the one sent", (),
           (S + "test_front_limits.py",)),
    # --- the test servers' ports (and make serve's app port)
    Mutant("port-ephemeral", "scripts/serve.py",
           "port = random.randrange(*span)",
           "port = random.randrange(low, high + 1)",
           "a server's port drawn from the range outgoing connections take theirs from",
           (U + "test_serve_script.py",)),
    Mutant("port-twice", "scripts/serve.py", "if port not in _given and _bind_error(",
           "if _bind_error(", "the same port handed out twice before either server binds it",
           (U + "test_serve_script.py",)),
    # --- the page: a visitor's names inside its sentences (tests/unit cannot draw text)
    Mutant("page-compare-stretched", "app/static/css/app.css",
           ".compare-range { width: 0; min-width: max(100%, 4rem); }",
           ".compare-range { width: 100%; min-width: 0; }",
           "the slider's own width sets the frame's: a portrait's result stretched past it",
           (), (S + "test_browser_features.py",)),
    Mutant("page-delete-twice", "app/static/js/gallery.js",
           'addEventListener("click", oneAtATime(async function () {',
           'addEventListener("click", (async function () {',
           "a double click on Delete sends two DELETEs", (), (S + "test_browser_manners.py",)),
    Mutant("page-failed-dropped", "app/static/js/upload.js",
           "    if (!result.ok && result.later && item.file) failedFiles.push(item.file);\n", "",
           "a photo refused at the limit is thrown away with the ones made",
           (), (S + "test_browser_manners.py",)),
    Mutant("page-leave-unasked", "app/static/js/upload.js",
           "  if (busy) event.preventDefault();", "",
           "leaving during an upload asks nothing", (), (S + "test_browser_manners.py",)),
    Mutant("page-nojs-sheet", "app/templates/base.html",
           "  <noscript><link rel=\"stylesheet\" href=\"{{ url_for('static', "
           "filename='css/nojs.css') }}\"></noscript>\n", "",
           "without JavaScript, buttons that do nothing and a hidden file input",
           (), (S + "test_browser_manners.py",)),
    Mutant("page-dialog-fade", "app/static/js/app.js",
           '  element.addEventListener("shown.bs.modal", again, { once: true });\n', "",
           "a dialog answered before its fade-in ended stays open, the list stale",
           (), (S + "test_browser_manners.py",)),
    Mutant("page-name-bdi", "app/templates/index.html",
           '“<bdi id="delete-name"></bdi>”', '“<span id="delete-name"></span>”',
           "the delete dialog's name not isolated: an override turns the sentence around",
           (), (S + "test_browser_features.py",)),
    Mutant("page-file-isolated", "app/static/js/app.js",
           'export function isolated(text) { return "\\u2068" + text + "\\u2069"; }',
           "export function isolated(text) { return text; }",
           "file names in the page's messages not isolated",
           (), (S + "test_browser_features.py", S + "test_browser.py")),
    Mutant("decode-odd-rounded-up", "app/images/decoding.py",
           "img.draft(\"RGB\", (max(img.width // reduce_by, at_least),",
           "img.draft(\"RGB\", (max(-(-img.width // reduce_by), at_least),",
           "an odd side's reduction asked for rounded up: the photo decoded whole instead",
           (U + "test_imaging.py", U + "test_thumbnails.py")),
    Mutant("model-input-half", "app/engines/local.py",
           "        return self.predict(photo.full())",
           "        return self.predict(photo.full().reduce(2))",
           "the model fed a half-size photo: masks drift from rembg's",
           (U + "test_engine_local.py",), (S + "test_engine_quality.py",)),
    Mutant("across-rgba", "app/images/resample.py",
           '    if (image.mode not in ("RGB", "L") or size[0] == image.width',
           "    if (size[0] == image.width",
           "RGBA split across threads: Pillow premultiplies it around both passes",
           (U + "test_resample.py",)),
    Mutant("across-tall", "app/images/resample.py",
           "            or image.height > image.width * 100):", "            or False):",
           "a very tall image split across threads: Pillow goes down first",
           (U + "test_resample.py",)),
    Mutant("across-lazy", "app/images/resample.py",
           "    image.load()  # once, here: two threads loading a lazy image at once broke",
           "    pass  # once, here: two threads loading a lazy image at once broke",
           "a lazy image loaded by two threads at once: broken pixels",
           (U + "test_resample.py",)),
    Mutant("page-time-load", "app/static/js/gallery.js", "\nshowLocalTimes();\n", "\n",
           "times in UTC as the page loads, local only once the list is refreshed",
           (), (S + "test_browser_manners.py",)),
    Mutant("renditions-unreduced", "app/images/decoding.py",
           "        return self.full().reduce(by) if by > 1 else self.full()",
           "        return self.full()",
           "renditions made from the full-size photo",
           (U + "test_thumbnails.py",)),
    Mutant("page-time-utc", "app/static/js/gallery.js",
           "document.addEventListener(\"ibp:refreshed\", showLocalTimes);\n", "",
           "times back in UTC once a change refreshes the list",
           (), (S + "test_browser_manners.py",)),
)


FAILED = re.compile(r"^(?:FAILED|ERROR) (tests/\S.*?)(?: - .*)?$", re.M)
DESELECT: list[str] = []  # tests that fail without any mutant: no kill can be told by them


def pytest(tree: Path, paths, timeout: int = 900, first: bool = True) -> tuple[bool, str]:
    """(all passed, the first failed test's id or a reason)."""
    command = [sys.executable, "-m", "pytest", *(["-x"] if first else []), "-q",
               "-p", "no:cacheprovider", "-o", "addopts=-rfE",
               *(f"--deselect={test}" for test in DESELECT), *paths]
    try:
        done = subprocess.run(command, cwd=tree, capture_output=True, text=True,  # noqa: S603
                              timeout=timeout)  # (pytest, on this repository's tests)
    except subprocess.TimeoutExpired:
        return False, "timed out"
    if done.returncode == 0:
        return True, ""
    if done.returncode == 5:  # nothing collected: a missing file is not a kill
        return True, "no tests ran"
    found = FAILED.findall(done.stdout)
    return False, "\n".join(found) if found else f"pytest exit {done.returncode}"


def run(tree: Path, mutant: Mutant, system: bool) -> tuple[str, str]:
    path = tree / mutant.file
    original = path.read_text()
    if original.count(mutant.old) != 1:
        return "stale", f"old text found {original.count(mutant.old)} times"
    path.write_text(original.replace(mutant.old, mutant.new))
    try:
        unit = [p for p in mutant.unit if (tree / p).exists()]
        if unit:
            passed, failed = pytest(tree, unit)
            if not passed:
                return "unit", failed
        passed, failed = pytest(tree, ["tests/unit"])
        if not passed:
            return "unit", failed
        if system and mutant.system:
            passed, failed = pytest(tree, list(mutant.system))
            if not passed:
                return "system", failed
        return "survived", ""
    finally:
        path.write_text(original)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, required=True, help="a copy of the repository")
    parser.add_argument("--system", action="store_true",
                        help="run survivors of tests/unit against their system tests")
    parser.add_argument("--only", nargs="*", help="mutant ids to run")
    args = parser.parse_args()
    tree = args.tree.resolve()
    # A stopped run still puts the mutated file back (the `finally` in run()).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "app"],  # noqa: S607
                           cwd=tree, capture_output=True, text=True).stdout
    if dirty:
        parser.error(f"{tree}/app has changes: run in a clean copy\n{dirty}")
    chosen = [m for m in MUTANTS if not args.only or m.id in args.only]
    # tests/unit as it is, once: a test that already fails would "kill" every mutant.
    _, failing = pytest(tree, ["tests/unit"], first=False)
    # A module that does not import (a file missing from the copy) would "kill" them all too.
    broken = [line for line in failing.splitlines() if "::" not in line]
    if broken:
        parser.error(f"tests/unit does not run as it is: {', '.join(broken)}")
    DESELECT.extend(line for line in failing.splitlines() if "::" in line)
    for test in DESELECT:
        print(f"already failing without a mutant, left out: {test}")
    results = []
    print("| mutant | file | change | result | killed by |")
    print("|---|---|---|---|---|")
    for mutant in chosen:
        result, test = run(tree, mutant, args.system)
        results.append(result)
        print(f"| {mutant.id} | `{mutant.file}` | {mutant.what} | {result} | "
              f"{f'`{test}`' if test else ''} |", flush=True)
    killed = sum(r in ("unit", "system") for r in results)
    print(f"\n{len(chosen)} mutants: {results.count('unit')} killed by tests/unit, "
          f"{results.count('system')} more by tests/system, {results.count('survived')} "
          f"survived, {results.count('stale')} stale; {killed / len(chosen):.0%} killed.")
    return 0 if killed == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
