"""Credit reports (信用报告): signed PDF, HTML and JSON, verifiable online and offline.

* ``content``   — what a report says (public / scenario / the subject's own full report);
* ``scenarios`` — scenario definitions (``scenarios.yaml``, validated against the catalogue);
* ``signing``   — canonical JSON, SHA-256, Ed25519 signature, the JSON envelope;
* ``keys``      — signing keys (created on first use, rotated, published with every old key);
* ``pdf``       — typesetting with an embedded CJK font, QR code, and the whole-file seal
                  (how a PDF proves itself is explained in that module's docstring);
* ``html``      — the same content as a page or a standalone file;
* ``service``   — issuing: numbers, reuse of unchanged reports, the ``reports`` register;
* ``verify``    — offline verification of a PDF or JSON file;
* ``api`` / ``cli`` — routes and ``xinyong report …``.
"""
