"""Parses TLS-RPT reports with parsedmarc, for tests/tlsrpt_report.rs (an independent reader).

stdin: a JSON array of report texts; stdout: a JSON array of parsedmarc's results, in order.
Run with the venv's python (see tests/tlsrpt_report.rs for how to create it).
"""
import json
import sys

from parsedmarc import parse_smtp_tls_report_json

reports = json.load(sys.stdin)
json.dump([parse_smtp_tls_report_json(text) for text in reports], sys.stdout)
