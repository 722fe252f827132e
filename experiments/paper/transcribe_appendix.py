#!/usr/bin/env python3
"""Writes experiments/paper/table{8..23}.csv and experiments/tables/table{8..23}.yaml from the
seed text (the workspace's shared/seeds/): the numbers of each printed row, in order, assigned to
the spec's rows. Run from the repository root: python3 experiments/paper/transcribe_appendix.py
It stops if a table's block does not hold exactly the expected number of numeric rows, and prints
each row's printed label beside ours so a person can compare them."""
import csv, io, math, os, re, sys

SEEDS = os.environ.get("MATQUANT_SEEDS", "../shared/seeds")
# 000 is the first draft: it sliced every model with Eq. 8 (no clamp), see the errata in 001.
MAIN, DRAFT = "001_40813c6c68db8f96.txt", "000_0d89ea68381d822c.txt"
DRAFT_SOURCE = "seeds/000, the first draft (Eq. 8 slicing)"
TASKS = [("arc_c", "ARC-c", "arc_challenge"), ("arc_e", "ARC-e", "arc_easy"), ("boolq", "BoolQ", "boolq"),
         ("hellaswag", "HellaSwag", "hellaswag"), ("piqa", "PIQA", "piqa"), ("winogrande", "Winogrande", "winogrande")]
MODELS = {"gemma-2-2b": ("Gemma-2 2B", "[google/gemma-2-2b, models/gemma-2-2b]"),
          "gemma-2-9b": ("Gemma-2 9B", "[google/gemma-2-9b, models/gemma-2-9b]"),
          "mistral-7b": ("Mistral 7B", "[mistralai/Mistral-7B-v0.1, models/mistral-7b]")}
NUMBER = re.compile(r"^(-|\d+(\.\d+)?)$")
SQRT2 = repr(math.sqrt(2))


def numeric_rows(seed, first_line, count, width):
    lines = open(os.path.join(SEEDS, seed), encoding="utf-8").read().split("\n")
    rows = []
    for line in lines[first_line - 1:]:
        fields = [f.strip() for f in line.split("\t")]
        while fields and fields[-1] == "":
            fields.pop()
        tail = fields[-width:]
        if len(fields) >= width and all(NUMBER.match(f) for f in tail):
            rows.append((" | ".join(fields[:-width]), tail))
            if len(rows) == count:
                return rows
    sys.exit(f"{seed}:{first_line}: found {len(rows)} of {count} rows")


# The lm-eval metric whose values the paper prints, per task: length-normalised acc_norm for
# HellaSwag, acc for the others (docs/results.md "Which accuracy each task reports").
METRIC = {"arc_challenge": "acc", "arc_easy": "acc", "boolq": "acc", "hellaswag": "acc_norm", "piqa": "acc",
          "winogrande": "acc"}
METRIC_NOTE = ("  # Accuracy as the paper reports it: acc_norm for HellaSwag, acc elsewhere "
               "(docs/results.md \"Which accuracy each task reports\").")
# Loss weights (YAML) of the runs behind the paper's numbers: MatQuant (0.1, 0.1, 1), E.P. (1, 1, 1)
# (Appendix B), except Mistral 7B MatQuant with OmniQuant, whose numbers are the (0.4, 0.4, 1) row
# of 001's Table 17 (experiments/paper/README.md).
MATQUANT_LAMBDAS = '"[0.1,0.1,1]"'
MATQUANT_AND_EP_LAMBDAS = '{matquant: "[0.1,0.1,1]", ep: "[1,1,1]"}'
MISTRAL_OMNIQUANT_LAMBDAS = "[0.4,0.4,1]"


def measures(log_pplx, avg_label="Average"):
    out = [f"  - {{key: {k}, label: {l}, metric: {METRIC[t]}, task: {t}, scale: 100, digits: 2}}" for k, l, t in TASKS]
    out.append(f"  - {{key: task_avg, label: {avg_label}, scale: 100, digits: 2,\n"
               "     metric: {" + ", ".join(f"{t}: {METRIC[t]}" for _, _, t in TASKS) + "},\n"
               "     mean_of: [arc_challenge, arc_easy, boolq, hellaswag, piqa, winogrande]}")
    if log_pplx:
        out.append("  - {key: log_pplx, label: log pplx., metric: log_pplx, task: [validation, c4], digits: 3}")
    return out


def keys(log_pplx):
    return [k for k, _, _ in TASKS] + ["task_avg"] + (["log_pplx"] if log_pplx else [])


def yaml_text(value):
    return '"' + value.replace('"', '\\"') + '"'


def row_line(r):
    parts = []
    if r.get("section"):
        parts.append(f"section: {yaml_text(r['section'])}")
    if r.get("label"):
        parts.append(f"label: {yaml_text(r['label'])}")
    parts.append(f"precision: {r['precision']}")
    for key in ("variant", "paper_variant", "base"):
        if r.get(key):
            parts.append(f"{key}: {yaml_text(r[key])}")
    if r.get("where"):
        parts.append("where: {" + ", ".join(f"{k}: {yaml_text(v)}" for k, v in r["where"].items()) + "}")
    return "  - {" + ", ".join(parts) + "}"


def write_table(t, csv_text=None):
    """t: id, seed, line, title, comment, base, scope, columns, rows, keys, measures. The CSV is
    the printed rows' numbers in order, unless `csv_text` is given (Table 8)."""
    if csv_text is None:
        csv_text = table_csv(t)
    open(f"experiments/paper/table{t['id']}.csv", "w").write(csv_text)
    write_spec(t)


def table_csv(t):
    width = len(t["keys"])
    printed = numeric_rows(t["seed"], t["line"], len(t["rows"]), width)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["table", "model", "base", "variant", "precision", "column", "value"])
    for r, (label, values) in zip(t["rows"], printed):
        ours = f"{r.get('section', '')} {r.get('label', '')} {r['precision']}"
        print(f"table {t['id']}: {label:40s} -> {ours}")
        column = t["columns"][r.get("column", 0)]
        base = r.get("base") or column.get("base") or t["base"]
        paper_variant = r.get("paper_variant", r.get("variant", column.get("variant", "")))
        if "paper_variant" in r:
            paper_variant = r["paper_variant"]
        precision = column.get("precision_prefix", "") + r["precision"]
        for key, value in zip(t["keys"], values):
            w.writerow([t["id"], column["model"], base, paper_variant, precision, key, value])
    return out.getvalue()


def write_spec(t):
    draft = t["seed"] == DRAFT
    seed = DRAFT_SOURCE if draft else "seeds/001"
    title = t["title"] + (" (first draft, Eq. 8 slicing)" if draft else "")
    y = [f"# Paper Table {t['id']} ({seed}): {t['comment']}",
         f"#   matquant report --table {t['id']} [--db results/matquant.sqlite] [--format md|latex|csv]"]
    y += [f"# {c}" for c in t.get("notes", [])]
    y += ["# Format: docs/results.md \"Table specs\". Generated by experiments/paper/transcribe_appendix.py.",
          f"table: \"{t['id']}\"", f"title: {title}",
          f"source: Table {t['id']} of the paper ({seed})",
          f"paper: ../paper/table{t['id']}.csv"]
    if t["base"]:
        y.append(f"base: {t['base']}")
    if t.get("lambdas"):
        y.append(f"lambdas: {t['lambdas']}  # loss weights of the runs the paper reports (experiments/paper/README.md)")
    if t.get("plain"):
        y.append(f"where: {{scope: {t['scope']}, distillation: \"\"}}  # plain MatQuant rows, not co-distillation runs")
    else:
        y.append(f"where: {{scope: {t['scope']}}}")
    y.append("models:")
    for model in sorted({c["model"] for c in t["columns"]}):
        y.append(f"  {model}: {MODELS[model][1]}")
    y.append(f"row_header: [{t['row_header'][0]}, {t['row_header'][1]}]")
    y.append("columns:")
    for c in t["columns"]:
        extra = "".join(f", {k}: {yaml_text(c[k])}" for k in ("base", "variant", "precision_prefix", "lambdas") if c.get(k))
        y.append(f"  - {{model: {c['model']}, label: {c.get('label', MODELS[c['model']][0])}{extra}}}")
    y.append("measures:")
    y.append(METRIC_NOTE)
    y += t["measures"]
    y.append("rows:")
    y += [row_line({k: v for k, v in r.items() if k != "column"}) for r in t["rows"]]
    open(f"experiments/tables/table{t['id']}.yaml", "w").write("\n".join(y) + "\n")


BF16 = {"section": "bfloat16", "precision": "bf16", "paper_variant": "", "where": {"base": "*", "scope": "*"}}


# The first draft's sliced rows are Eq. 8 slices: our variant ep (Eq. 8 in training and slicing),
# read at ep-int<r>. Its `bits` says which model: [8] trains the int8 baseline unsliced (r = c),
# so its ep-int<r> reads are the draft's Sliced int8; [2] is Single-Precision MatQuant; [8, 4, 2]
# MatQuant, whose loss weights in the draft are (1, 1, 1) (Table 15 varies them around it). Rows
# name bits, lambdas and distillation, so each selects one configuration. The paper key keeps
# `sliced` / `sp` at ep-int<r>, apart from every Eq. 6 key.
EQ8_RUN = {"sliced": ("[8]", "[1]"), "sp": ("[2]", "[1]"), "ep": ("[8,4,2]", "[1,1,1]")}


def eq8_row(label, paper_variant, precision, where=None):
    row = {"label": label, "precision": "ep-" + precision, "variant": "ep"}
    if paper_variant != "ep":
        row["paper_variant"] = paper_variant
    bits, lambdas = EQ8_RUN[paper_variant]
    row["where"] = {"bits": bits, "lambdas": lambdas, "distillation": "", **(where or {})}
    return row


def table1_rows(sp=False, draft=False):
    """bfloat16, then int8 (Baseline, MatQuant) and int4/int2/int6/int3 (Sliced int8, Baseline, MatQuant);
    with sp, S.P. MatQuant before MatQuant at int2 and int3 (Tables 6, 18, 19). With draft, every
    row but bfloat16 and the baselines (trained at r, never sliced) is an Eq. 8 row."""
    rows = [dict(BF16)]
    for p in ("int8", "int4", "int2", "int6", "int3"):
        section = [("Sliced int8", "sliced", p)] if p != "int8" else []
        section.append(("Baseline", "baseline", p))
        if sp and p in ("int2", "int3"):
            section.append(("S.P. MatQuant", "sp", p))
        section.append(("MatQuant", "ep" if draft else "matquant", p))
        for i, (label, variant, precision) in enumerate(section):
            row = {"label": label, "precision": precision, "variant": variant}
            if draft and variant != "baseline":
                row = eq8_row(label, variant, precision)
            if i == 0:
                row = {"section": p, **row}
            rows.append(row)
    return rows


def per_task(tid, model, base, line, title):
    return {"id": tid, "seed": MAIN, "line": line, "base": base, "scope": "ffn", "title": title,
            "comment": f"per-task accuracy, {MODELS[model][0]}, {'OmniQuant' if base == 'omniquant' else 'QAT'} (FFN quantized); "
                       f"Average is Table {'1' if base == 'omniquant' else '2'}'s Task Avg.",
            "lambdas": MATQUANT_LAMBDAS, "plain": True,
            "columns": [{"model": model, **({"lambdas": MISTRAL_OMNIQUANT_LAMBDAS}
                                            if (model, base) == ("mistral-7b", "omniquant") else {})}],
            "row_header": ["Data type", "Method"], "rows": table1_rows(), "keys": keys(False), "measures": measures(False)}


DISTILL = [("[8, 4, 2]", ""), ("[8, 4, 8->2]", "[8, 4, 8->2]"), ("[8, 4, 2, 8->2]", "[8, 4, 2, 8->2]"),
           ("[8, 4, 2, 8->4;2]", "[8, 4, 2, 8->4;2]")]


def table8():
    rows = []
    for section, p in (("(8, 8)", "int8"), ("(4, 4.022)", "int4"), ("(2, 2.050)", "int2")):
        for i, (label, config) in enumerate(DISTILL):
            row = {"label": label, "precision": p, "paper_variant": label, "where": {"distillation": config}}
            rows.append({"section": section, **row} if i == 0 else row)
    # The CSV rows come from one printed row per config holding both column groups: split them.
    t = {"id": "8", "seed": MAIN, "line": 326, "base": "omniquant", "scope": "ffn",
         "title": "Co-distillation within MatQuant and Extra-Precision MatQuant on Gemma-2 9B (OmniQuant)",
         "comment": "co-distillation configs for MatQuant and Extra-Precision MatQuant, Gemma-2 9B, OmniQuant.",
         "notes": ["Sections are the Avg. Bits of (MatQuant, E.P. MatQuant); the E.P. column reads ep-int<r> labels",
                   "(column precision_prefix). Paper keys: variant = the config, precision tells the two apart."],
         "columns": [{"model": "gemma-2-9b", "label": "MatQuant", "variant": "matquant"},
                     {"model": "gemma-2-9b", "label": "E.P. MatQuant", "variant": "ep", "precision_prefix": "ep-"}],
         "lambdas": MATQUANT_AND_EP_LAMBDAS,
         "row_header": ["Avg. Bits", "Config."], "rows": rows, "keys": ["task_avg", "log_pplx"],
         "measures": measures(False, "Task Avg.")[-1:] + ["  - {key: log_pplx, label: log pplx., metric: log_pplx, task: [validation, c4], digits: 3}"]}
    return t


def write_table8(t):
    printed = numeric_rows(t["seed"], t["line"], len(t["rows"]), 4)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["table", "model", "base", "variant", "precision", "column", "value"])
    for r, (label, values) in zip(t["rows"], printed):
        print(f"table 8: {label:40s} -> {r.get('section', '')} {r['label']} {r['precision']}")
        for c, column in enumerate(t["columns"]):
            for key, value in zip(("task_avg", "log_pplx"), values[2 * c:2 * c + 2]):
                w.writerow(["8", "gemma-2-9b", "omniquant", r["paper_variant"], column.get("precision_prefix", "") + r["precision"], key, value])
    return out.getvalue()


WEIGHTS = [("(1, 1, 1)", "1,1,1", "[1,1,1]"), ("(1, sqrt(2), sqrt(2))", "1,sqrt(2),sqrt(2)", f"[1,{SQRT2},{SQRT2}]"),
           ("(sqrt(2), 1, sqrt(2))", "sqrt(2),1,sqrt(2)", f"[{SQRT2},1,{SQRT2}]"),
           ("(1, 1, sqrt(2))", "1,1,sqrt(2)", f"[1,1,{SQRT2}]"), ("(2, 2, 1)", "2,2,1", "[2,2,1]"),
           ("(sqrt(2), 2, 1)", "sqrt(2),2,1", f"[{SQRT2},2,1]"), ("(2, sqrt(2), 1)", "2,sqrt(2),1", f"[2,{SQRT2},1]"),
           ("(sqrt(2), sqrt(2), 1)", "sqrt(2),sqrt(2),1", f"[{SQRT2},{SQRT2},1]")]
DRAFT_NOTE = ["seeds/000 is the first draft, which sliced with Eq. 8 (the errata of seeds/001): every row",
              "but bfloat16 and the baselines (trained at r bits, never sliced) reads ep-int<r> of a variant ep",
              "run; bits [8, 4, 2] with lambdas (1, 1, 1) is MatQuant, [8] the int8 baseline (Sliced int8),",
              "[2] S.P. MatQuant (experiments/paper/README.md)."]


def table15():
    rows = []
    for p in ("int8", "int4", "int2", "int6", "int3"):
        for i, (label, key, lambdas) in enumerate(WEIGHTS):
            row = {**eq8_row(label, "ep", p, {"lambdas": lambdas}), "paper_variant": f"ep({key})"}
            rows.append({"section": p, **row} if i == 0 else row)
    return {"id": "15", "seed": DRAFT, "line": 5, "base": "omniquant", "scope": "ffn",
            "title": "Loss re-weighting (lambda_8, lambda_4, lambda_2) of Extra-Precision MatQuant with OmniQuant on Mistral 7B",
            "comment": "loss re-weighting details, Mistral 7B, OmniQuant.",
            "notes": DRAFT_NOTE + ["Rows select runs by `lambdas`; sqrt(2) is written as the double 1.4142135623730951."],
            "columns": [{"model": "mistral-7b"}], "row_header": ["Data type", "Weightings"], "rows": rows,
            "keys": keys(False), "measures": measures(False)}


def codistill(tid, base, line):
    rows = []
    for p in ("int8", "int4", "int2", "int6", "int3"):
        for i, (label, config) in enumerate(DISTILL[1:]):
            row = {**eq8_row(label, "ep", p, {"distillation": config}), "paper_variant": f"ep{label}"}
            rows.append({"section": p, **row} if i == 0 else row)
    name = "OmniQuant" if base == "omniquant" else "QAT"
    return {"id": tid, "seed": DRAFT, "line": line, "base": base, "scope": "ffn",
            "title": f"Co-distillation within Extra-Precision MatQuant on Gemma-2 9B ({name}), per task",
            "comment": f"co-distillation details, Gemma-2 9B, {name}.", "notes": DRAFT_NOTE,
            "columns": [{"model": "gemma-2-9b"}], "row_header": ["Data type", "Config."], "rows": rows,
            "keys": keys(True), "measures": measures(True)}


def ffn_attention(tid, model, line):
    return {"id": tid, "seed": DRAFT, "line": line, "base": "qat", "scope": "ffn+attn",
            "title": f"MatQuant with QAT on FFN and attention weights, {MODELS[model][0]}, per task",
            "comment": f"FFN + Attention details, {MODELS[model][0]}, QAT; the int2/int3 baselines diverged ('-').",
            "notes": DRAFT_NOTE, "columns": [{"model": model}], "row_header": ["Data type", "Method"],
            "rows": table1_rows(sp=True, draft=True), "keys": keys(False), "measures": measures(False)}


def single_precision_int2(tid, model, line):
    rows = []
    for base, name in (("omniquant", "OmniQuant"), ("qat", "QAT")):
        rows.append({"section": name, **eq8_row("S.P. MatQuant", "sp", "int2"), "base": base})
        rows.append({"label": "Baseline", "precision": "int2", "variant": "baseline", "base": base})
        rows.append({**eq8_row("MatQuant", "ep", "int2"), "base": base})
    return {"id": tid, "seed": DRAFT, "line": line, "base": "", "scope": "ffn",
            "title": f"Single-Precision MatQuant at int2 on {MODELS[model][0]}, OmniQuant and QAT, per task",
            "comment": f"Single-Precision details, {MODELS[model][0]}, int2.", "notes": DRAFT_NOTE,
            "columns": [{"model": model}], "row_header": ["int2", "Method"], "rows": rows,
            "keys": keys(True), "measures": measures(True, "Task Avg.")}


def single_precision_sliced(tid, base, line):
    name = "OmniQuant" if base == "omniquant" else "QAT"
    rows = []
    for p in ("int8", "int4", "int2"):
        rows.append({"section": p, **eq8_row("S.P. MatQuant", "sp", p)})
        rows.append({"label": name, "precision": p, "variant": "baseline"})
        rows.append(eq8_row("MatQuant", "ep", p))
    return {"id": tid, "seed": DRAFT, "line": line, "base": base, "scope": "ffn",
            "title": f"Single-Precision MatQuant (trained for int2, int4/int8 sliced) on Gemma-2 9B with {name}, per task",
            "comment": f"Single-Precision details, Gemma-2 9B, {name}; the {name} rows are the baseline.",
            "notes": DRAFT_NOTE, "columns": [{"model": "gemma-2-9b"}], "row_header": ["Data type", "Method"],
            "rows": rows, "keys": keys(True), "measures": measures(True)}


TABLES = [
    per_task("9", "gemma-2-2b", "omniquant", 458, "Per-task accuracy of MatQuant with OmniQuant on Gemma-2 2B"),
    per_task("10", "gemma-2-9b", "omniquant", 476, "Per-task accuracy of MatQuant with OmniQuant on Gemma-2 9B"),
    per_task("11", "mistral-7b", "omniquant", 498, "Per-task accuracy of MatQuant with OmniQuant on Mistral 7B"),
    per_task("12", "gemma-2-2b", "qat", 516, "Per-task accuracy of MatQuant with QAT on Gemma-2 2B"),
    per_task("13", "gemma-2-9b", "qat", 538, "Per-task accuracy of MatQuant with QAT on Gemma-2 9B"),
    per_task("14", "mistral-7b", "qat", 558, "Per-task accuracy of MatQuant with QAT on Mistral 7B"),
    table15(),
    codistill("16", "omniquant", 51),
    codistill("17", "qat", 71),
    ffn_attention("18", "gemma-2-9b", 90),
    ffn_attention("19", "mistral-7b", 112),
    single_precision_int2("20", "gemma-2-2b", 134),
    single_precision_sliced("21", "omniquant", 146),
    single_precision_sliced("22", "qat", 160),
    single_precision_int2("23", "mistral-7b", 174),
]

if __name__ == "__main__":
    for t in TABLES:
        write_table(t)
    t8 = table8()
    write_table(t8, write_table8(t8))
