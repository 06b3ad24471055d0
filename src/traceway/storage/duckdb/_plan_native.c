/* Which spans of a written batch to store, in which order, with which parents: one pass.
 *
 * Why by hand: batch_plan.plan_arrow does the same with some thirty Arrow kernels
 * (dedupe by id, group by trace, a five-key sort, the parent lookup). Each call gives
 * up the GIL and must take it back, and in the server the commit thread then waits
 * for the event loop and the decode threads: those steps took a fifth of a commit's
 * CPU and a quarter of its time. This reads the id and start buffers once without the
 * GIL (Arrow's never change) and hands back bytes that batch_plan wraps as Arrow
 * arrays. It makes exactly what plan_arrow makes (tests compare them), and returns
 * None, for plan_arrow to take the batch, when ids make its hash tables probe far
 * more than random ones would (the hash is seeded at random per process).
 *
 * Rows listed as stored are left out, and of the rest only the first row of each
 * (trace id, span id). The kept rows are ordered trace by trace, traces in order of
 * their first start, then by trace id; a trace's spans by start, then span id (ids
 * compare as the big-endian numbers they are). Each kept row's parent is the kept row
 * of the same trace whose span id is its parent span id, if there is one. Each
 * trace's row of `traces` is its earliest and latest start and the low 32 bits of its
 * id, in the same order.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "_native_buf.h"
#include "_native_hash.h"

static inline uint64_t big_endian(const uint8_t *p)
{
    uint64_t w;
    memcpy(&w, p, 8);
    return __builtin_bswap64(w);
}

/* Seeded hashes of a trace id and of a (trace id, span id) pair. */
static inline uint64_t trace_hash(uint64_t hi, uint64_t lo)
{
    return mum(mum(hi ^ seed, 0x9e3779b97f4a7c15ULL) ^ lo, 0xa0761d6478bd642fULL);
}

static inline uint64_t span_hash(uint64_t hi, uint64_t lo, uint64_t span)
{
    return mum(trace_hash(hi, lo) ^ span, 0xe7037ed1a0b428dbULL);
}

typedef struct {
    int64_t trace_start; /* the trace's first start */
    uint64_t hi, lo;     /* the trace id */
    int64_t start;
    uint64_t span;
    int32_t row;
} Kept;

typedef struct {
    int64_t first, last;
    uint64_t hi, lo;
} Trace;

typedef struct {
    /* input */
    size_t count;
    const uint8_t *trace_ids, *span_ids, *parent_ids; /* 16, 8 and 8 bytes a row */
    const uint8_t *parent_valid;                      /* bits, or NULL: all valid */
    size_t parent_bit;                                /* of row 0 in parent_valid */
    const uint8_t *starts;                            /* int64 a row */
    const uint8_t *stored;                            /* 1 for a row stored already */
    size_t probes, probe_budget;
    /* work */
    Table spans;  /* kept (trace, span) pairs, numbered as kept[] */
    Table traces; /* distinct trace ids, numbered as trace[] */
    Kept *kept;
    Trace *trace;
    uint32_t *trace_of; /* per kept row */
    /* output */
    Buf rows;         /* int32 per kept row, in order */
    Buf parents;      /* int32 per kept row: its parent's place in rows (0 for none) */
    Buf parent_valid_out; /* a bit per kept row */
    size_t parent_count;
    Buf firsts, lasts; /* int64 per trace, in order */
    Buf keys;          /* uint32 per trace */
} Plan;

static void plan_free(Plan *p)
{
    table_free(&p->spans);
    table_free(&p->traces);
    free(p->kept);
    free(p->trace);
    free(p->trace_of);
    Buf *bufs[] = {&p->rows, &p->parents, &p->parent_valid_out, &p->firsts, &p->lasts, &p->keys};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]->data);
}

static inline int64_t start_of(const Plan *p, size_t row)
{
    int64_t v;
    memcpy(&v, p->starts + 8 * row, 8);
    return v;
}

static inline int parent_is_valid(const Plan *p, size_t row)
{
    if (p->parent_valid == NULL)
        return 1;
    size_t bit = p->parent_bit + row;
    return (p->parent_valid[bit >> 3] >> (bit & 7)) & 1;
}

static int kept_order(const void *a, const void *b)
{
    const Kept *x = a, *y = b;
    if (x->trace_start != y->trace_start)
        return x->trace_start < y->trace_start ? -1 : 1;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    if (x->span != y->span)
        return x->span < y->span ? -1 : 1;
    return 0; /* not reached: a kept (trace, span) is unique */
}

static int trace_order(const void *a, const void *b)
{
    const Trace *x = a, *y = b;
    if (x->first != y->first)
        return x->first < y->first ? -1 : 1;
    if (x->hi != y->hi)
        return x->hi < y->hi ? -1 : 1;
    if (x->lo != y->lo)
        return x->lo < y->lo ? -1 : 1;
    return 0;
}

/* Whether kept row k is (trace hi/lo, span). */
#define SAME_SPAN(k, h, l, sp) (p->kept[k].hi == (h) && p->kept[k].lo == (l) && p->kept[k].span == (sp))

static int keep_rows(Plan *p)
{
    Plan *s = p; /* FIND_OR_ADD counts probes on `s` */
    for (size_t row = 0; row < p->count; row++) {
        if (p->stored[row])
            continue;
        const uint8_t *trace = p->trace_ids + 16 * row;
        uint64_t hi = big_endian(trace), lo = big_endian(trace + 8);
        uint64_t span = big_endian(p->span_ids + 8 * row);
        int64_t start = start_of(p, row);
        int added = 0;
        uint32_t number;
        FIND_OR_ADD(s->spans, span_hash(hi, lo, span), SAME_SPAN(item, hi, lo, span),
                    (p->kept[number] = (Kept){0, hi, lo, start, span, (int32_t)row}, added = 1),
                    number);
        if (!added)
            continue; /* a later row of a kept (trace, span) */
        uint32_t t;
        FIND_OR_ADD(s->traces, trace_hash(hi, lo),
                    (p->trace[item].hi == hi && p->trace[item].lo == lo),
                    (p->trace[t] = (Trace){start, start, hi, lo}), t);
        if (start < p->trace[t].first)
            p->trace[t].first = start;
        if (start > p->trace[t].last)
            p->trace[t].last = start;
        p->trace_of[number] = t;
    }
    return ST_OK;
}

/* The kept rows in order, each one's parent, and the traces in order. */
static int order(Plan *p)
{
    Plan *s = p;
    size_t kept = p->spans.count;
    for (size_t k = 0; k < kept; k++)
        p->kept[k].trace_start = p->trace[p->trace_of[k]].first;
    /* The span table numbers kept rows by their place in kept[], so it is rebuilt
     * after the sort to number them by their place in the order. */
    qsort(p->kept, kept, sizeof *p->kept, kept_order);
    p->spans.count = 0;
    memset(p->spans.slots, 0, (p->spans.mask + 1) * sizeof *p->spans.slots);
    for (size_t k = 0; k < kept; k++) {
        const Kept *at = &p->kept[k];
        uint32_t number;
        FIND_OR_ADD(s->spans, span_hash(at->hi, at->lo, at->span),
                    SAME_SPAN(item, at->hi, at->lo, at->span), {}, number);
        (void)number;
        TRY(buf_i32(&p->rows, at->row));
    }
    for (size_t byte = 0; byte < (kept + 7) / 8; byte++)
        TRY(buf_byte(&p->parent_valid_out, 0));
    for (size_t k = 0; k < kept; k++) {
        const Kept *at = &p->kept[k];
        size_t row = (size_t)at->row;
        uint32_t found = UINT32_MAX;
        if (parent_is_valid(p, row)) {
            uint64_t parent = big_endian(p->parent_ids + 8 * row);
            uint64_t h = span_hash(at->hi, at->lo, parent);
            for (size_t slot = h & p->spans.mask; p->spans.slots[slot];
                 slot = (slot + 1) & p->spans.mask) {
                if (++p->probes > p->probe_budget)
                    return ST_FALLBACK;
                uint32_t item = p->spans.slots[slot] - 1;
                if (p->spans.hashes[item] == h && SAME_SPAN(item, at->hi, at->lo, parent)) {
                    found = item;
                    break;
                }
            }
        }
        if (found != UINT32_MAX) {
            p->parent_valid_out.data[k >> 3] |= (uint8_t)(1u << (k & 7));
            p->parent_count++;
        }
        TRY(buf_i32(&p->parents, found == UINT32_MAX ? 0 : (int32_t)found));
    }
    size_t traces = p->traces.count;
    qsort(p->trace, traces, sizeof *p->trace, trace_order);
    for (size_t t = 0; t < traces; t++) {
        TRY(buf_i64(&p->firsts, p->trace[t].first));
        TRY(buf_i64(&p->lasts, p->trace[t].last));
        TRY(buf_u32(&p->keys, (uint32_t)p->trace[t].lo));
    }
    return ST_OK;
}

static int plan_all(Plan *p)
{
    if (p->count > INT32_MAX)
        return ST_FALLBACK;
    TRY(table_init(&p->spans, p->count));
    TRY(table_init(&p->traces, p->count));
    p->kept = malloc((p->count + 1) * sizeof *p->kept);
    p->trace = malloc((p->count + 1) * sizeof *p->trace);
    p->trace_of = malloc((p->count + 1) * sizeof *p->trace_of);
    if (p->kept == NULL || p->trace == NULL || p->trace_of == NULL)
        return ST_NOMEM;
    /* Tables at most half full take about 1.5 probes per lookup with a good hash. */
    p->probe_budget = 16 * 4 * p->count + 4096;
    TRY(buf_grow(&p->rows, p->count * 4));
    TRY(buf_grow(&p->parents, p->count * 4));
    TRY(keep_rows(p));
    return order(p);
}

#define BAD_BUFFERS "plan(): the buffers do not hold the rows given"

static PyObject *plan(PyObject *module, PyObject *args)
{
    (void)module;
    Py_ssize_t count, parent_bit;
    Py_buffer traces, spans, parents, valid, starts, stored;
    if (!PyArg_ParseTuple(args, "ny*y*y*z*ny*y*", &count, &traces, &spans, &parents, &valid,
                          &parent_bit, &starts, &stored))
        return NULL;
    PyObject *result = NULL;
    Plan p = {0};
    uint8_t *stored_rows = NULL;
    /* Counted in rows, so that nothing here can overflow. */
    int have_valid = valid.obj != NULL; /* z*: None exports nothing */
    int ok = count >= 0 && parent_bit >= 0 && parent_bit < 8 && traces.len / 16 >= count &&
             spans.len / 8 >= count && parents.len / 8 >= count && starts.len / 8 >= count &&
             stored.len % 4 == 0 &&
             (!have_valid || count == 0 || valid.len >= (count + parent_bit + 7) / 8);
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, BAD_BUFFERS);
        goto done;
    }
    stored_rows = calloc((size_t)count + 1, 1);
    if (stored_rows == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < stored.len / 4; i++) {
        int32_t row;
        memcpy(&row, (const uint8_t *)stored.buf + 4 * i, 4);
        if (row < 0 || row >= count) {
            PyErr_SetString(PyExc_ValueError, "plan(): a stored row is not a row of the batch");
            goto done;
        }
        stored_rows[row] = 1;
    }
    p.count = (size_t)count;
    p.trace_ids = traces.buf;
    p.span_ids = spans.buf;
    p.parent_ids = parents.buf;
    p.parent_valid = have_valid ? valid.buf : NULL;
    p.parent_bit = (size_t)parent_bit;
    p.starts = starts.buf;
    p.stored = stored_rows;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = plan_all(&p);
    Py_END_ALLOW_THREADS
    if (status == ST_NOMEM)
        PyErr_NoMemory();
    else if (status == ST_FALLBACK)
        result = Py_NewRef(Py_None);
    else
        result = Py_BuildValue("(NNNnNNN)", bytes_of(&p.rows), bytes_of(&p.parents),
                               bytes_of(&p.parent_valid_out), (Py_ssize_t)p.parent_count,
                               bytes_of(&p.firsts), bytes_of(&p.lasts), bytes_of(&p.keys));
done:
    free(stored_rows);
    plan_free(&p);
    PyBuffer_Release(&traces);
    PyBuffer_Release(&spans);
    PyBuffer_Release(&parents);
    PyBuffer_Release(&valid); /* nothing to release for None */
    PyBuffer_Release(&starts);
    PyBuffer_Release(&stored);
    return result;
}

static PyMethodDef methods[] = {
    {"plan", plan, METH_VARARGS,
     "plan(count, trace_ids, span_ids, parent_ids, parent_validity, parent_bit, starts, "
     "stored_rows) -> tuple | None: which rows of a batch to store, in which order, their "
     "parents and the traces' rows, in buffers; None when batch_plan.plan_arrow must."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_plan_native", "Which spans of a batch to store, and how.", 0,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__plan_native(void)
{
    return seed_from_urandom() == 0 ? PyModule_Create(&module) : NULL;
}
