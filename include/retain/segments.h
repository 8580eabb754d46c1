/* Segment profiles, names and stable ids for a k-means segmentation
 * (docs/segmentation.md: "Segment profiles", "Naming rule", "Stable ids"). */
#ifndef RETAIN_SEGMENTS_H
#define RETAIN_SEGMENTS_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "retain/rows.h"
#include "retain/status.h"

#define RTN_SEGMENT_NAME_MAX 48

/* Column (index into the model's feature space) of each feature the naming rule reads,
 * or -1 when the model does not use it (it then counts as average, z = 0).
 * recency = days since the last purchase (high = lapsing); tenure = days since the
 * first purchase; online_share in [0, 1]. */
typedef struct {
    int monetary, frequency, recency, tenure, online_share;
} rtn_segment_roles;

typedef struct {
    int k;
    size_t d;              /* columns of the profile rows (original units) */
    int32_t *id;           /* k: stable segment id of each cluster */
    double *size;          /* k: customers */
    double *revenue_share; /* k: share of total revenue (NAN without revenue) */
    double *churn_rate;    /* k: churned / labelled customers (NAN without labels) */
    double *mean;          /* k x d: mean of every profile column, original units */
    char (*name)[RTN_SEGMENT_NAME_MAX]; /* k: unique human-readable names */
} rtn_segment_profiles;

/* Collective. rows: the same customers as the fit (same bucket layout) with the profile
 * columns in original units; labels: their clusters (0..k-1); revenue (optional) and
 * churned (optional: 1 churned, 0 retained, negative = unknown) per row. Every sum is a
 * bucket-ordered reduction, so the profile is identical for any rank count. Ids are set
 * to 1..k and names to "" (see rtn_segment_name and rtn_segment_match_ids). */
rtn_status rtn_segment_profile(MPI_Comm comm, const rtn_bucketed_rows *rows,
                               const int32_t *labels, int k, const double *revenue,
                               const int8_t *churned, rtn_segment_profiles *out);
void rtn_segment_profiles_free(rtn_segment_profiles *p);

/* The name of one centroid from its z-scores (centroid coordinates in the standardized
 * space) by the documented rule table; returns a static string. */
const char *rtn_segment_base_name(const double *centroid_z, const rtn_segment_roles *roles);

/* Names for all k centroids (k x d, standardized space), unique: when several clusters get
 * the same base name, the one with the highest monetary z keeps it (ties: lower cluster
 * index) and the others get " 2", " 3", ... in that order. */
void rtn_segment_name(const double *centroids_z, int k, size_t d, const rtn_segment_roles *roles,
                      char (*names)[RTN_SEGMENT_NAME_MAX]);

/* Minimum-cost assignment (Hungarian algorithm, O(n^2 m)) of n rows to m >= n columns of
 * a row-major n x m cost matrix: assign[i] = column of row i. Ties resolve by the fixed
 * scan order, so the result is deterministic. */
rtn_status rtn_hungarian(const double *cost, int n, int m, int *assign, double *total);

/* Stable ids when retraining: new centroids are matched to the previous model's by
 * minimum total Euclidean distance (both k x d in the same space, see
 * rtn_segment_rescale_centroids); a matched cluster inherits the old id, unmatched new
 * clusters get max(old ids) + 1, + 2, ... in cluster order, unmatched old ids retire. */
rtn_status rtn_segment_match_ids(const double *old_c, const int32_t *old_ids, int k_old,
                                 const double *new_c, int k_new, size_t d, int32_t *new_ids);

/* Maps centroids from one standardized space to another: out = (c*from.scale + from.mean
 * - to.mean) / to.scale, for comparing a previous model's centroids with a new fit. */
void rtn_segment_rescale_centroids(const double *c, int k, const rtn_scaler *from,
                                   const rtn_scaler *to, double *out);

#endif
