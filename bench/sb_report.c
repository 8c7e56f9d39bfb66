/* strata-bench output: the text summary, the JSON object and the SVG chart
 * of a finished run (sb.h).
 *
 * All three render the same sb_result_t, so a test can feed them a fixed
 * result and check the shape. JSON is written by hand (a few dozen keys do
 * not justify a library): strings are escaped, and non-finite numbers,
 * which JSON cannot carry, become 0. The SVG is self-contained — inline
 * styles, no scripts, no external fonts — so it opens in any browser: the
 * throughput per second as a polyline over time, and the latency
 * percentile curve on a "nines" axis (x = -log10(1 - p/100): 0, 90, 99,
 * 99.9, 99.99 equally spaced), where tails are visible instead of being
 * squeezed against the right edge. */
#include "bench/sb.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "bench/sb_batch.h"

const double sb_pcts[SB_NPCT] = {50, 95, 99, 99.9, 99.99};
const char *const sb_pct_keys[SB_NPCT] = {"p50", "p95", "p99", "p99_9",
                                          "p99_99"};

#define CURVE_STEP 0.05 /* nines between two points of the curve */
#define CURVE_MAX 4.0   /* up to 99.99 % */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static double fin(double v)
{
    return isfinite(v) ? v : 0;
}

/* ---- text ---- */

static void text_latency(FILE *f, const char *label, const sb_hist_t *h)
{
    if (!h || !sb_hist_count(h)) {
        fprintf(f, "%-12s no samples\n", label);
        return;
    }
    fprintf(f,
            "%-12s p50 %.3f  p95 %.3f  p99 %.3f  p99.9 %.3f  max %.3f ms"
            "  (mean %.3f, %llu samples)\n",
            label, ms(sb_hist_percentile(h, 50)), ms(sb_hist_percentile(h, 95)),
            ms(sb_hist_percentile(h, 99)), ms(sb_hist_percentile(h, 99.9)),
            ms(sb_hist_max(h)), sb_hist_mean(h) / 1e6,
            (unsigned long long)sb_hist_count(h));
}

void sb_report_text(FILE *f, const sb_result_t *r)
{
    const sb_opts_t *o = r->opts;
    const char *what = o->mode != SB_PRODUCE ? "read"
                       : o->acks == 0        ? "sent"
                                             : "acked";

    fprintf(f, "strata-bench %s: topic %s (%d partition%s) at %s, ",
            sb_mode_name(o->mode), o->topic, r->partitions,
            r->partitions == 1 ? "" : "s", o->bootstrap);
    if (o->mode == SB_CONSUME)
        fprintf(f, "%.0f B records on average",
                r->records ? (double)r->bytes / (double)r->records : 0);
    else
        fprintf(f, "%d B records", o->record_size);
    if (o->mode != SB_CONSUME)
        fprintf(f, ", acks=%s, %s, %d producer%s", sb_acks_name(o->acks),
                sb_codec_name(o->codec), o->producers,
                o->producers == 1 ? "" : "s");
    if (o->mode != SB_PRODUCE)
        fprintf(f, ", %d consumer%s", o->consumers,
                o->consumers == 1 ? "" : "s");
    fputc('\n', f);
    fprintf(f, "%-12s %llu %s in %.3f s", "records",
            (unsigned long long)r->records, what, r->elapsed_s);
    if (r->target)
        fprintf(f, " (target %llu)", (unsigned long long)r->target);
    fputc('\n', f);
    if (o->mode == SB_E2E)
        fprintf(f, "%-12s %llu acked\n", "produced",
                (unsigned long long)r->produced);
    fprintf(f, "%-12s %.0f records/s  %.2f MB/s", "throughput",
            r->records_per_sec, r->mb_per_sec);
    if (o->warmup > 0)
        fprintf(f, "  (over %.3f s after a %.3g s warm-up)", r->measured_s,
                o->warmup);
    fputc('\n', f);
    text_latency(f,
                 o->mode == SB_PRODUCE ? "ack latency"
                 : o->mode == SB_E2E   ? "e2e latency"
                                       : "fetch rtt",
                 r->latency);
    if (o->mode == SB_E2E)
        text_latency(f, "ack latency", r->ack_latency);
    fprintf(f, "%-12s %llu", "errors", (unsigned long long)r->errors);
    for (int e = 0, first = 1; e < SB_NERR; e++) {
        if (!r->err[e])
            continue;
        fprintf(f, "%s%s %llu", first ? ": " : ", ", sb_err_slot_name(e),
                (unsigned long long)r->err[e]);
        first = 0;
    }
    if (r->failed)
        fprintf(f, "  (%llu records failed)", (unsigned long long)r->failed);
    fputc('\n', f);
    if (r->fatal)
        fprintf(f, "%-12s %s\n", "stopped", r->fatal);
    fprintf(f, "%-12s %s\n", "result", r->ok ? "OK" : "FAILED");
}

/* ---- JSON ---- */

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    fprintf(f, "%.10g", fin(v));
}

static void json_latency(FILE *f, const sb_hist_t *h)
{
    fprintf(f, "{\"count\": %llu, \"min\": ",
            (unsigned long long)(h ? sb_hist_count(h) : 0));
    json_num(f, h ? ms(sb_hist_min(h)) : 0);
    fputs(", \"mean\": ", f);
    json_num(f, h ? sb_hist_mean(h) / 1e6 : 0);
    for (int i = 0; i < SB_NPCT; i++) {
        fprintf(f, ", \"%s\": ", sb_pct_keys[i]);
        json_num(f, h ? ms(sb_hist_percentile(h, sb_pcts[i])) : 0);
    }
    fputs(", \"max\": ", f);
    json_num(f, h ? ms(sb_hist_max(h)) : 0);
    fputc('}', f);
}

void sb_report_json(FILE *f, const sb_result_t *r)
{
    const sb_opts_t *o = r->opts;

    fputs("{\"mode\": ", f);
    json_str(f, sb_mode_name(o->mode));
    fputs(", \"topic\": ", f);
    json_str(f, o->topic);
    fputs(", \"bootstrap\": ", f);
    json_str(f, o->bootstrap);
    /* consume: the record size is what was read (bytes per record) */
    fprintf(f, ", \"partitions\": %d, \"record_size\": %lld", r->partitions,
            o->mode != SB_CONSUME ? (long long)o->record_size
            : r->records          ? (long long)(r->bytes / r->records)
                                  : 0LL);
    fputs(", \"acks\": ", f);
    json_str(f, sb_acks_name(o->acks));
    fputs(", \"compression\": ", f);
    json_str(f, sb_codec_name(o->codec));
    fprintf(f,
            ", \"producers\": %d, \"consumers\": %d, \"inflight\": %d, "
            "\"batch_bytes\": %lld, \"linger_ms\": ",
            o->mode == SB_CONSUME ? 0 : o->producers,
            o->mode == SB_PRODUCE ? 0 : o->consumers, o->inflight,
            (long long)o->batch_bytes);
    json_num(f, o->linger_ms);
    fputs(", \"target_throughput\": ", f);
    json_num(f, o->throughput);
    fputs(", \"warmup_s\": ", f);
    json_num(f, o->warmup);
    fprintf(f,
            ", \"records\": %llu, \"target_records\": %llu, \"bytes\": %llu, "
            "\"wire_bytes\": %llu, \"produced_records\": %llu, "
            "\"failed_records\": %llu, \"requests\": %llu",
            (unsigned long long)r->records, (unsigned long long)r->target,
            (unsigned long long)r->bytes, (unsigned long long)r->wire_bytes,
            (unsigned long long)(o->mode == SB_CONSUME   ? 0
                                 : o->mode == SB_PRODUCE ? r->records
                                                         : r->produced),
            (unsigned long long)r->failed, (unsigned long long)r->requests);
    fputs(", \"elapsed_s\": ", f);
    json_num(f, r->elapsed_s);
    fputs(", \"measured_s\": ", f);
    json_num(f, r->measured_s);
    fputs(", \"records_per_sec\": ", f);
    json_num(f, r->records_per_sec);
    fputs(", \"mb_per_sec\": ", f);
    json_num(f, r->mb_per_sec);
    fputs(", \"latency_kind\": ", f);
    json_str(f, r->latency_kind ? r->latency_kind : "");
    fputs(", \"latency_ms\": ", f);
    json_latency(f, r->latency);
    if (r->ack_latency) {
        fputs(", \"ack_latency_ms\": ", f);
        json_latency(f, r->ack_latency);
    }
    fputs(", \"latency_curve\": [", f);
    if (r->latency && sb_hist_count(r->latency)) {
        for (int i = 0; i * CURVE_STEP <= CURVE_MAX + 1e-9; i++) {
            double p = 100.0 * (1 - pow(10, -i * CURVE_STEP));
            fputs(i ? ", [" : "[", f);
            json_num(f, round(p * 1e4) / 1e4);
            fputs(", ", f);
            json_num(f, ms(sb_hist_percentile(r->latency, p)));
            fputc(']', f);
        }
    }
    fprintf(f, "], \"errors\": %llu, \"errors_by_code\": {",
            (unsigned long long)r->errors);
    for (int e = 0, first = 1; e < SB_NERR; e++) {
        if (!r->err[e])
            continue;
        if (!first)
            fputs(", ", f);
        json_str(f, sb_err_slot_name(e));
        fprintf(f, ": %llu", (unsigned long long)r->err[e]);
        first = 0;
    }
    fputs("}, \"fatal\": ", f);
    if (r->fatal)
        json_str(f, r->fatal);
    else
        fputs("null", f);
    fprintf(f, ", \"ok\": %s, \"series\": [", r->ok ? "true" : "false");
    for (int i = 0; i < r->n_series; i++) {
        const sb_point_t *pt = &r->series[i];
        fputs(i ? ", {\"t\": " : "{\"t\": ", f);
        json_num(f, pt->t);
        fputs(", \"records_per_sec\": ", f);
        json_num(f, pt->records_per_sec);
        fputs(", \"mb_per_sec\": ", f);
        json_num(f, pt->mb_per_sec);
        if (o->mode == SB_E2E) {
            fputs(", \"produced_per_sec\": ", f);
            json_num(f, pt->produced_per_sec);
        }
        fputs(", \"p50_ms\": ", f);
        json_num(f, pt->p50_ms);
        fputs(", \"p99_ms\": ", f);
        json_num(f, pt->p99_ms);
        fprintf(f, ", \"errors\": %llu}", (unsigned long long)pt->errors);
    }
    fputs("]}\n", f);
}

/* ---- SVG ---- */

#define W 900
#define PANEL_H 260
#define ML 80 /* margins: left, right, top of each panel, bottom */
#define MR 30
#define MT 50
#define MB 50

static void xml_text(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            if ((unsigned char)*s >= 0x20)
                fputc(*s, f);
        }
    }
}

/* A round step giving about n ticks up to max. */
static double nice_step(double max, int n)
{
    double raw = max / n, mag, norm;

    if (!(raw > 0))
        return 1;
    mag = pow(10, floor(log10(raw)));
    norm = raw / mag;
    return (norm <= 1 ? 1 : norm <= 2 ? 2 : norm <= 5 ? 5 : 10) * mag;
}

typedef struct panel {
    double x0, y0, w, h; /* plot area in SVG units (y0 = top) */
    double xmax, ymax;
} panel_t;

/* Tick label: 250000 -> "250k", 1500000 -> "1.5M". */
static void tick_label(char *buf, size_t cap, double v)
{
    if (v >= 1e6)
        snprintf(buf, cap, "%gM", v / 1e6);
    else if (v >= 1e4)
        snprintf(buf, cap, "%gk", v / 1e3);
    else
        snprintf(buf, cap, "%g", v);
}

static double px(const panel_t *p, double x)
{
    return p->x0 + (p->xmax > 0 ? x / p->xmax : 0) * p->w;
}

static double py(const panel_t *p, double y)
{
    return p->y0 + p->h - (p->ymax > 0 ? y / p->ymax : 0) * p->h;
}

static void axes(FILE *f, const panel_t *p, const char *title,
                 const char *xlabel, const char *ylabel, bool nines)
{
    double step = nice_step(p->ymax, 5);

    fprintf(f, "<text x=\"%d\" y=\"%.0f\" class=\"title\">", ML, p->y0 - 18);
    xml_text(f, title);
    fputs("</text>\n", f);
    fprintf(f,
            "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
            "class=\"frame\"/>\n",
            p->x0, p->y0, p->w, p->h);
    for (double y = 0; y <= p->ymax * 1.0001; y += step) {
        char lab[32];
        tick_label(lab, sizeof(lab), y);
        fprintf(f,
                "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                "class=\"grid\"/>\n",
                p->x0, py(p, y), p->x0 + p->w, py(p, y));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"ytick\">%s</text>\n",
                p->x0 - 6, py(p, y) + 4, lab);
    }
    if (nines) {
        static const char *const lab[] = {"0", "90", "99", "99.9", "99.99"};
        for (int i = 0; i <= 4; i++) {
            fprintf(f,
                    "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
                    "class=\"grid\"/>\n",
                    px(p, i), p->y0, px(p, i), p->y0 + p->h);
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%.1f\" class=\"xtick\">%s%%</text>\n",
                    px(p, i), p->y0 + p->h + 16, lab[i]);
        }
    } else {
        double xs = nice_step(p->xmax, 8);
        for (double x = 0; x <= p->xmax * 1.0001; x += xs)
            fprintf(f,
                    "<text x=\"%.1f\" y=\"%.1f\" class=\"xtick\">%g</text>\n",
                    px(p, x), p->y0 + p->h + 16, x);
    }
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" class=\"xlabel\">",
            p->x0 + p->w / 2, p->y0 + p->h + 34);
    xml_text(f, xlabel);
    fputs("</text>\n", f);
    fprintf(f,
            "<text transform=\"translate(%.1f,%.1f) rotate(-90)\" "
            "class=\"ylabel\">",
            p->x0 - 58, p->y0 + p->h / 2);
    xml_text(f, ylabel);
    fputs("</text>\n", f);
}

/* Each interval's rate as a horizontal step over that interval. */
static void steps(FILE *f, const char *cls, const panel_t *p,
                  const sb_result_t *r, bool produced)
{
    double t0 = 0;

    fprintf(f, "<polyline class=\"%s\" points=\"", cls);
    for (int i = 0; i < r->n_series; i++) {
        const sb_point_t *pt = &r->series[i];
        double y =
            py(p, fin(produced ? pt->produced_per_sec : pt->records_per_sec));
        fprintf(f, "%s%.1f,%.1f %.1f,%.1f", i ? " " : "", px(p, t0), y,
                px(p, fin(pt->t)), y);
        t0 = fin(pt->t);
    }
    fputs("\"/>\n", f);
}

int sb_report_svg(FILE *f, const sb_result_t *r)
{
    const sb_opts_t *o = r->opts;
    panel_t tp, lp;
    int h = 2 * (MT + PANEL_H + MB) + 20;
    char title[512];
    bool have_lat = r->latency && sb_hist_count(r->latency);

    tp = (panel_t){ML, MT + 20, W - ML - MR, PANEL_H, 1, 1};
    lp = (panel_t){
        ML, 2 * MT + PANEL_H + MB + 20, W - ML - MR, PANEL_H, CURVE_MAX, 1};
    for (int i = 0; i < r->n_series; i++) {
        const sb_point_t *pt = &r->series[i];
        tp.xmax = fmax(tp.xmax, fin(pt->t));
        tp.ymax = fmax(tp.ymax, fin(pt->records_per_sec));
        if (o->mode == SB_E2E)
            tp.ymax = fmax(tp.ymax, fin(pt->produced_per_sec));
    }
    tp.ymax *= 1.1;
    if (have_lat)
        lp.ymax = fmax(1e-3, ms(sb_hist_percentile(r->latency, 99.99)) * 1.1);

    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
            "height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            W, h, W, h);
    fputs("<style>\n"
          "text { font-family: sans-serif; font-size: 12px; fill: #222; }\n"
          ".title { font-size: 14px; font-weight: bold; }\n"
          ".head { font-size: 15px; font-weight: bold; }\n"
          ".xtick, .xlabel, .ylabel { text-anchor: middle; }\n"
          ".ytick { text-anchor: end; }\n"
          ".frame { fill: none; stroke: #444; }\n"
          ".grid { stroke: #ddd; }\n"
          ".s1 { fill: none; stroke: #1f77b4; stroke-width: 2; }\n"
          ".s2 { fill: none; stroke: #ff7f0e; stroke-width: 2; "
          "stroke-dasharray: 6 3; }\n"
          "</style>\n"
          "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
          f);
    snprintf(title, sizeof(title),
             "strata-bench %s: %s, %d partition(s), %d B records, %.0f "
             "records/s, %.2f MB/s, %llu errors",
             sb_mode_name(o->mode), o->topic, r->partitions, o->record_size,
             fin(r->records_per_sec), fin(r->mb_per_sec),
             (unsigned long long)r->errors);
    fprintf(f, "<text x=\"%d\" y=\"24\" class=\"head\">", ML);
    xml_text(f, title);
    fputs("</text>\n", f);

    axes(f, &tp,
         o->mode == SB_E2E ? "Throughput (solid: read, dashed: acked)"
                           : "Throughput",
         "time (s)", "records/s", false);
    steps(f, "s1", &tp, r, false);
    if (o->mode == SB_E2E)
        steps(f, "s2", &tp, r, true);

    snprintf(title, sizeof(title),
             "Latency by percentile (%s): p50 %.3f, p99 %.3f, p99.9 %.3f, "
             "max %.3f ms",
             r->latency_kind ? r->latency_kind : "",
             have_lat ? ms(sb_hist_percentile(r->latency, 50)) : 0,
             have_lat ? ms(sb_hist_percentile(r->latency, 99)) : 0,
             have_lat ? ms(sb_hist_percentile(r->latency, 99.9)) : 0,
             have_lat ? ms(sb_hist_max(r->latency)) : 0);
    axes(f, &lp, title, "percentile", "latency (ms)", true);
    fputs("<polyline class=\"s1\" points=\"", f);
    if (have_lat)
        for (int i = 0; i * CURVE_STEP <= CURVE_MAX + 1e-9; i++) {
            double x = i * CURVE_STEP, p = 100.0 * (1 - pow(10, -x));
            fprintf(f, "%s%.1f,%.1f", i ? " " : "", px(&lp, x),
                    py(&lp, ms(sb_hist_percentile(r->latency, p))));
        }
    fputs("\"/>\n", f);
    if (!have_lat)
        fprintf(f,
                "<text x=\"%.1f\" y=\"%.1f\" class=\"xlabel\">no latency "
                "samples</text>\n",
                lp.x0 + lp.w / 2, lp.y0 + lp.h / 2);
    fputs("</svg>\n", f);
    return ferror(f) ? -EIO : 0;
}
