/* A written batch's attribute entries split into shared sets and lists, in one pass.
 *
 * Why by hand: attribute_columns.split_entries_arrow does the same with some twenty
 * Arrow kernels. Each call gives up the GIL and must take it back, and in the server,
 * where the event loop and the decode threads want it too, taking it back costs as
 * much again as the kernels' work: the split was the largest part of a commit's time.
 * This reads the entry lists' buffers once without the GIL (they must not change
 * meanwhile: Arrow's never do) and hands back bytes that attribute_columns wraps as
 * Arrow arrays without another copy. It makes exactly what
 * split_entries_arrow makes (tests compare them); it returns None, and the Arrow
 * version runs, for an entry without the key separator, a buffer past 2 GiB, or
 * entries that make its hash tables probe far more than random ones would (the hash
 * is seeded at random per process, so such entries cannot be made on purpose).
 *
 * An entry is "key US type-letter value"; a key is common when its entries outnumber
 * its distinct entries REPEATS times or more. A list's common entries (but those
 * holding an RS) become its set text, RS entry RS entry ... RS ("" for none), given
 * as an index into the distinct texts; its other entries its varying text, written
 * the same way; and the entries holding an RS, which no text can hold, its list.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>


#include "_native_buf.h"
#include "_native_hash.h"

enum { ST_BAD_BUFFERS = 3 }; /* after the shared statuses: offsets past the buffers */

#define US 0x1f
#define RS 0x1e

/* ---- the split ---- */

typedef struct {
    /* input */
    size_t count;               /* lists */
    const int32_t *list_offsets; /* count + 1, into the entries */
    const int32_t *offsets;      /* of the entries' strings, from the child's own offset */
    const uint8_t *data;
    size_t data_len;
    long repeats;
    size_t probes, probe_budget; /* slots looked at in all tables, and the most allowed */
    /* distinct entries, numbered by first appearance */
    Table entries;
    Buf arena;        /* the distinct entries' bytes, one after the other: compared */
    Buf entry_start;  /* uint32: where each starts in the arena; one more at the end */
    Buf entry_count;  /* uint32: how often it appears */
    Buf entry_key;    /* uint32: its key's number */
    Buf entry_of;     /* uint32 per entry: its distinct number */
    /* distinct keys, numbered by first appearance */
    Table keys;
    Buf key_entry;    /* uint32: a distinct entry with the key */
    Buf key_distinct; /* uint64: distinct entries with the key */
    Buf key_total;    /* uint64: entries with the key */
    /* (key, type letter) pairs, in the first appearance of each */
    Table pairs;
    Buf pair_entry;   /* uint32: a distinct entry with the pair */
    /* the sets: distinct sequences of common distinct entries */
    Table sets;
    Buf set_start;    /* uint32 per set, into set_members; one more at the end */
    Buf set_members;  /* uint32 distinct entry numbers */
    Buf scratch;      /* uint32: the common entries of the list at hand */
    /* output */
    Buf set_of;       /* int32 per list */
    Buf text_offsets; /* int32 per set, and one more */
    Buf texts;
    Buf varying_offsets; /* int32 per list, and one more */
    Buf varying;
    Buf with_rs_lists;   /* int64 per list, and one more: of the entries holding an RS */
    Buf with_rs_offsets; /* int32 per such entry, and one more */
    Buf with_rs;
} Split;

static void split_free(Split *s)
{
    Table *tables[] = {&s->entries, &s->keys, &s->pairs, &s->sets};
    for (size_t i = 0; i < sizeof tables / sizeof *tables; i++)
        table_free(tables[i]);
    Buf *bufs[] = {&s->arena, &s->entry_start, &s->entry_count, &s->entry_key, &s->entry_of,
                   &s->key_entry, &s->key_distinct, &s->key_total, &s->pair_entry,
                   &s->set_start, &s->set_members, &s->scratch, &s->set_of,
                   &s->text_offsets, &s->texts, &s->varying_offsets, &s->varying,
                   &s->with_rs_lists, &s->with_rs_offsets, &s->with_rs};
    for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++)
        free(bufs[i]->data);
}

#define U32(buf) ((uint32_t *)(buf).data)
#define U64(buf) ((uint64_t *)(buf).data)

static inline const uint8_t *entry_bytes(const Split *s, uint32_t index, size_t *len)
{
    *len = (size_t)(s->offsets[index + 1] - s->offsets[index]);
    return s->data + s->offsets[index];
}

/* A distinct entry's bytes, from the arena: a few hundred kilobytes that stay in the
 * cache, where the first of its kind in the batch's data would be anywhere in megabytes. */
static inline const uint8_t *distinct_bytes(const Split *s, uint32_t d, size_t *len)
{
    *len = U32(s->entry_start)[d + 1] - U32(s->entry_start)[d];
    return s->arena.data + U32(s->entry_start)[d];
}

/* The key of an entry: its bytes before the first US; the type letter after it (one
 * UTF-8 character, or none). ST_FALLBACK without a US. */
static int key_and_letter(const uint8_t *p, size_t n, size_t *key_len, size_t *letter_len)
{
    const uint8_t *us = memchr(p, US, n);
    if (us == NULL)
        return ST_FALLBACK;
    *key_len = (size_t)(us - p);
    size_t rest = n - *key_len - 1;
    if (rest == 0) {
        *letter_len = 0;
        return ST_OK;
    }
    uint8_t lead = us[1];
    size_t len = lead < 0x80 ? 1 : lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
    *letter_len = len <= rest ? len : rest;
    return ST_OK;
}

/* Number each entry by its distinct value, counting them. (split_all has checked that
 * the entries and their bytes fit the uint32 numbers and offsets used here.) */
static int count_entries(Split *s)
{
    size_t first = (size_t)s->list_offsets[0], last = (size_t)s->list_offsets[s->count];
    for (size_t i = first; i < last; i++) {
        size_t n, m;
        const uint8_t *p = entry_bytes(s, (uint32_t)i, &n), *q;
        uint64_t h = hash_bytes(p, n);
        uint32_t d;
        FIND_OR_ADD(
            s->entries, h, (q = distinct_bytes(s, item, &m), m == n && memcmp(p, q, n) == 0),
            {
                TRY(buf_put(&s->arena, p, n));
                TRY(buf_u32(&s->entry_start, (uint32_t)s->arena.len));
                TRY(buf_u32(&s->entry_count, 0));
                TRY(buf_u32(&s->entry_key, 0));
            },
            d);
        U32(s->entry_count)[d]++;
        TRY(buf_u32(&s->entry_of, d));
    }
    return ST_OK;
}

/* Each distinct entry's key, the keys' counts, and the (key, letter) pairs. */
static int count_keys(Split *s)
{
    for (uint32_t d = 0; d < s->entries.count; d++) {
        size_t n, key_len, letter_len;
        const uint8_t *p = distinct_bytes(s, d, &n);
        TRY(key_and_letter(p, n, &key_len, &letter_len));
        uint64_t h = hash_bytes(p, key_len);
        uint32_t key;
        size_t other_len, other_key_len, ignored;
        const uint8_t *other;
        FIND_OR_ADD(
            s->keys, h,
            (other = distinct_bytes(s, U32(s->key_entry)[item], &other_len),
             key_and_letter(other, other_len, &other_key_len, &ignored) == ST_OK &&
                 other_key_len == key_len && memcmp(other, p, key_len) == 0),
            {
                TRY(buf_u32(&s->key_entry, d));
                TRY(buf_u64(&s->key_distinct, 0));
                TRY(buf_u64(&s->key_total, 0));
            },
            key);
        U32(s->entry_key)[d] = key;
        U64(s->key_distinct)[key]++;
        U64(s->key_total)[key] += U32(s->entry_count)[d];
        /* the pair: key US letter, as bytes of the entry */
        size_t pair_len = key_len + 1 + letter_len;
        uint64_t ph = hash_bytes(p, pair_len);
        uint32_t pair;
        size_t other_pair_key, other_letter;
        FIND_OR_ADD(
            s->pairs, ph,
            (other = distinct_bytes(s, U32(s->pair_entry)[item], &other_len),
             key_and_letter(other, other_len, &other_pair_key, &other_letter) == ST_OK &&
                 other_pair_key + 1 + other_letter == pair_len &&
                 memcmp(other, p, pair_len) == 0),
            TRY(buf_u32(&s->pair_entry, d)), pair);
        (void)pair;
    }
    return ST_OK;
}

enum { VARYING, COMMON, WITH_RS }; /* where a distinct entry goes */

static inline uint8_t kind_of(const Split *s, uint32_t d)
{
    size_t n;
    const uint8_t *p = distinct_bytes(s, d, &n);
    if (memchr(p, RS, n) != NULL)
        return WITH_RS;
    uint32_t key = U32(s->entry_key)[d];
    return (uint64_t)s->repeats * U64(s->key_distinct)[key] > U64(s->key_total)[key] ? VARYING
                                                                                    : COMMON;
}

/* Each list's set (an index into the texts), varying text and entries holding an RS. */
static int build(Split *s, const uint8_t *kind)
{
    TRY(buf_index(&s->text_offsets, 0));
    TRY(buf_u32(&s->set_start, 0));
    TRY(buf_index(&s->varying_offsets, 0));
    TRY(buf_i64(&s->with_rs_lists, 0));
    TRY(buf_index(&s->with_rs_offsets, 0));
    size_t first = (size_t)s->list_offsets[0];
    for (size_t list = 0; list < s->count; list++) {
        s->scratch.len = 0;
        size_t varying_start = s->varying.len;
        for (size_t i = (size_t)s->list_offsets[list]; i < (size_t)s->list_offsets[list + 1]; i++) {
            uint32_t d = U32(s->entry_of)[i - first];
            if (kind[d] == COMMON) {
                TRY(buf_u32(&s->scratch, d));
                continue;
            }
            size_t n;
            const uint8_t *p = entry_bytes(s, (uint32_t)i, &n);
            if (kind[d] == WITH_RS) {
                TRY(buf_put(&s->with_rs, p, n));
                TRY(buf_offset(&s->with_rs_offsets, &s->with_rs));
                continue;
            }
            TRY(buf_byte(&s->varying, RS));
            TRY(buf_put(&s->varying, p, n));
        }
        if (s->varying.len > varying_start)
            TRY(buf_byte(&s->varying, RS));
        TRY(buf_offset(&s->varying_offsets, &s->varying));
        TRY(buf_i64(&s->with_rs_lists, (int64_t)(s->with_rs_offsets.len / 4 - 1)));
        const uint32_t *members = U32(s->scratch);
        size_t member_count = s->scratch.len / 4;
        uint64_t h = hash_bytes(s->scratch.data, s->scratch.len);
        uint32_t set;
        FIND_OR_ADD(
            s->sets, h,
            (U32(s->set_start)[item + 1] - U32(s->set_start)[item] == member_count &&
             (member_count == 0 ||
              memcmp(U32(s->set_members) + U32(s->set_start)[item], members,
                     member_count * 4) == 0)),
            {
                TRY(buf_put(&s->set_members, members, member_count * 4));
                TRY(buf_u32(&s->set_start, (uint32_t)(s->set_members.len / 4)));
                for (size_t m = 0; m < member_count; m++) {
                    size_t n;
                    const uint8_t *p = distinct_bytes(s, members[m], &n);
                    TRY(buf_byte(&s->texts, RS));
                    TRY(buf_put(&s->texts, p, n));
                }
                if (member_count)
                    TRY(buf_byte(&s->texts, RS));
                TRY(buf_index(&s->text_offsets, s->texts.len));
            },
            set);
        TRY(buf_index(&s->set_of, set));
    }
    return ST_OK;
}

/* Whether the offsets stay in order and within the data (split checked the rest). */
static int holds_lists(const Split *s)
{
    for (size_t i = 0; i < s->count; i++)
        if (s->list_offsets[i] > s->list_offsets[i + 1])
            return ST_BAD_BUFFERS;
    for (int32_t i = s->list_offsets[0]; i < s->list_offsets[s->count]; i++)
        if (s->offsets[i] < 0 || s->offsets[i] > s->offsets[i + 1] ||
            (size_t)s->offsets[i + 1] > s->data_len)
            return ST_BAD_BUFFERS;
    return ST_OK;
}

static int split_all(Split *s)
{
    TRY(holds_lists(s));
    TRY(buf_u32(&s->entry_start, 0));
    TRY(buf_grow(&s->arena, 1)); /* never NULL, even when every entry is empty */
    size_t entries = (size_t)(s->list_offsets[s->count] - s->list_offsets[0]);
    TRY(table_init(&s->entries, 256));
    TRY(table_init(&s->keys, 64));
    TRY(table_init(&s->pairs, 64));
    TRY(table_init(&s->sets, 64));
    if (entries > UINT32_MAX - 1)
        return ST_FALLBACK;
    /* Tables at most half full take about 1.5 probes per lookup with a good hash. */
    s->probe_budget = 16 * (entries + s->count) + 4096;
    /* At most: one of each per entry, or per list; the bytes of the entries. */
    size_t bytes = (size_t)(s->offsets[s->list_offsets[s->count]] - s->offsets[s->list_offsets[0]]);
    TRY(buf_grow(&s->entry_of, entries * 4));
    TRY(buf_grow(&s->varying_offsets, (s->count + 1) * 4));
    TRY(buf_grow(&s->varying, bytes + entries + s->count));
    TRY(buf_grow(&s->set_of, s->count * 4));
    TRY(buf_grow(&s->with_rs_lists, (s->count + 1) * 8));
    TRY(count_entries(s));
    TRY(count_keys(s));
    uint8_t *kind = malloc(s->entries.count + 1);
    if (kind == NULL)
        return ST_NOMEM;
    for (uint32_t d = 0; d < s->entries.count; d++)
        kind[d] = kind_of(s, d);
    int status = build(s, kind);
    free(kind);
    return status;
}

/* ---- to Python ---- */

/* [(key, type letter), ...] of the pairs, in their first appearance. */
static PyObject *pairs_of(const Split *s)
{
    PyObject *list = PyList_New((Py_ssize_t)s->pairs.count);
    if (list == NULL)
        return NULL;
    for (size_t i = 0; i < s->pairs.count; i++) {
        size_t n, key_len, letter_len;
        const uint8_t *p = distinct_bytes(s, U32(s->pair_entry)[i], &n);
        key_and_letter(p, n, &key_len, &letter_len);
        PyObject *pair = Py_BuildValue("(s#s#)", (const char *)p, (Py_ssize_t)key_len,
                                       (const char *)p + key_len + 1, (Py_ssize_t)letter_len);
        if (pair == NULL) {
            Py_DECREF(list);
            return NULL;
        }
        PyList_SET_ITEM(list, (Py_ssize_t)i, pair);
    }
    return list;
}

#define BAD_BUFFERS "split(): the buffers do not hold the lists given"

static PyObject *split(PyObject *module, PyObject *args)
{
    (void)module;
    Py_ssize_t count, child_offset;
    long repeats;
    Py_buffer lists, offsets, data;
    if (!PyArg_ParseTuple(args, "nly*ny*y*", &count, &repeats, &lists, &child_offset, &offsets,
                          &data))
        return NULL;
    PyObject *result = NULL;
    Split s = {0};
    const int32_t *list_offsets = lists.buf;
    const int32_t *entry_offsets = offsets.buf;
    /* The buffers must hold what the offsets say, or the arrays were not what we take;
     * counted in int32s, so that nothing here can overflow. Here only what makes the
     * first and last offsets readable; the others are checked without the GIL. */
    Py_ssize_t list_room = lists.len / 4, offset_room = offsets.len / 4;
    int aligned = (((uintptr_t)lists.buf | (uintptr_t)offsets.buf) & 3) == 0;
    int valid = aligned && count >= 0 && count < list_room && repeats > 0 &&
                repeats <= INT32_MAX && child_offset >= 0 && child_offset < offset_room;
    if (valid) {
        int32_t low = list_offsets[0], high = list_offsets[count];
        valid = low >= 0 && high >= low && high < offset_room - child_offset;
    }
    if (!valid) {
        PyErr_SetString(PyExc_ValueError, BAD_BUFFERS);
        goto done;
    }
    entry_offsets += child_offset;
    s.count = (size_t)count;
    s.list_offsets = list_offsets;
    s.offsets = entry_offsets;
    s.data = data.buf;
    s.data_len = (size_t)data.len;
    s.repeats = repeats;
    int status;
    Py_BEGIN_ALLOW_THREADS
    status = split_all(&s);
    Py_END_ALLOW_THREADS
    if (status == ST_NOMEM)
        PyErr_NoMemory();
    else if (status == ST_BAD_BUFFERS)
        PyErr_SetString(PyExc_ValueError, BAD_BUFFERS);
    else if (status == ST_FALLBACK)
        result = Py_NewRef(Py_None);
    else {
        Py_ssize_t with_rs_count = (Py_ssize_t)(s.with_rs_offsets.len / 4 - 1);
        result = Py_BuildValue("(nNNNNNnNNNN)", (Py_ssize_t)s.sets.count, bytes_of(&s.set_of),
                               bytes_of(&s.text_offsets), bytes_of(&s.texts),
                               bytes_of(&s.varying_offsets), bytes_of(&s.varying), with_rs_count,
                               bytes_of(&s.with_rs_lists), bytes_of(&s.with_rs_offsets),
                               bytes_of(&s.with_rs), pairs_of(&s));
        if (result == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
            PyErr_Clear(); /* a key or letter that is not UTF-8: the Arrow version says so */
            result = Py_NewRef(Py_None);
        }
    }
done:
    split_free(&s);
    PyBuffer_Release(&lists);
    PyBuffer_Release(&offsets);
    PyBuffer_Release(&data);
    return result;
}

static PyMethodDef methods[] = {
    {"split", split, METH_VARARGS,
     "split(count, repeats, list_offsets, child_offset, entry_offsets, data) -> tuple | None: "
     "a batch's entry lists as set texts, varying texts and lists of the entries holding an "
     "RS, in buffers, or None when attribute_columns.split_entries_arrow must take them."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_entries_native", "Attribute entries split into sets, texts and lists.", 0,
    methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__entries_native(void)
{
    return seed_from_urandom() == 0 ? PyModule_Create(&module) : NULL;
}
