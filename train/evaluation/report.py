"""``avaffect eval``'s report as text: the paper's measures first, then every metric, and for
expressions the per-class F1 and the confusion matrix."""

from __future__ import annotations

from avaffect.labels import EXPRESSIONS

MEASURE_NAMES = {
    "va_ccc": "CCC (mean of valence, arousal)",
    "au_f1": "AU F1 (mean over 8 AUs)",
    "expr_f1": "Expression F1 (macro)",
    "expr_acc": "Expression accuracy",
    "expr_mean_diag": "Expression mean diagonal",
}


def format_report(report: dict) -> str:
    lines = [
        f"{report['model']} on {report['dataset']} ({report['split']}, {report['samples']} samples, "
        f"{report['frames']} frames)",
        f"checkpoint: {report['checkpoint']}",
        *([f"engine: {report['backend']} {report['precision']} on {report['device']}"] if report.get("backend") else []),
        *([f"dataset options: {_options(report['options'])}"] if report.get("options") else []),
        *([f"note: {report['note']}"] if report.get("note") else []),
        "",
    ]
    if report["headline"]:
        lines.append("paper measures")
        lines += [f"  {MEASURE_NAMES.get(k, k):<34} {v:8.4f}" for k, v in report["headline"].items()]
        lines.append("")
    lines.append("all metrics")
    lines += [f"  {k:<34} {v:8.4f}" for k, v in report["metrics"].items()]
    if not report["metrics"]:
        lines.append("  (none: the dataset labels no task this model predicts)")
    if report.get("sequence_end"):
        end = report["sequence_end"]
        lines += ["", f"at each sequence's last labelled step ({end['sequences']} sequences)",
                  f"  {MEASURE_NAMES['expr_acc']:<34} {end['expr_acc']:8.4f}",
                  f"  {MEASURE_NAMES['expr_f1']:<34} {end['expr_f1']:8.4f}"]
        if end.get("f1_per_class"):  # the classes this split labels; "-" where it has none
            lines.append("  per-class F1  " + "  ".join(
                f"{name[:4]} {'-' if v is None else f'{v:.2f}'}" for name, v in end["f1_per_class"].items()))
        if report.get("clips_cut"):
            cut = report["clips_cut"]
            lines.append(f"  note: {cut['clips']} of the split's {cut['of']} clips run past {report['sequence_length']} "
                         f"steps ({cut['seconds']:g} s) and are cut there, so these are not whole clips; "
                         f"--sequence-length {cut['whole_at']} hears every clip whole")
    if report.get("expression"):
        lines += ["", *_expression_tables(report["expression"])]
    return "\n".join(lines)


def _options(options: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in options.items())


def _expression_tables(details: dict) -> list[str]:
    short = [name[:4] for name in EXPRESSIONS]
    lines = ["per-class F1"]
    for name, value in details["f1_per_class"].items():
        lines.append(f"  {name:<10} {'   -' if value is None else f'{value:.4f}'}")
    lines += ["", "confusion matrix (rows: true, columns: predicted)", "  " + " " * 10 + "".join(f"{s:>7}" for s in short)]
    for name, row in zip(EXPRESSIONS, details["confusion_matrix"], strict=True):
        lines.append(f"  {name:<10}" + "".join(f"{count:>7d}" for count in row))
    return lines
