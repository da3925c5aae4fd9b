#include "partitioner/placement_solver.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <optional>
#include <string>
#include <type_traits>
#include <vector>

#include "partitioner/cost_model.h"

namespace serdab::partitioner {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// The largest float not above v >= 0. Rounding up can only give a positive float (or
// infinity), whose predecessor is the bit pattern one below.
float FloatBelow(double v) {
  const float f = static_cast<float>(v);
  return f > v ? std::bit_cast<float>(std::bit_cast<uint32_t>(f) - 1) : f;
}

std::string FormatMs(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f ms", ms);
  return buf;
}

// The large tables of the last programme on this thread, kept for the next one: a 300 x 16
// problem needs about 11 MiB, and fresh pages fault in at a cost comparable to the solve
// (re-planning and the relaxations behind an infeasibility message solve repeatedly). The
// candidate bottlenecks of an SLO search run to hundreds of thousands when stages stream
// their weights (their costs grow slowly with their length), so their buffer is kept too.
struct TableCache {
  std::vector<double> stage;
  std::vector<float> stage_floor;
  std::vector<double> hop;
  std::vector<double> candidates;
};
thread_local TableCache table_cache;

// The dynamic programme over (cut, worker group, stage count), with every stage and link
// cost tabulated once per problem.
class PlacementDp {
 public:
  struct Solution {
    double value = 0;
    double bottleneck = 0;  // from the tables, so it compares exactly with Candidates()
    std::vector<StagePlan> plan;
  };

  explicit PlacementDp(const Problem& problem);
  ~PlacementDp();
  PlacementDp(const PlacementDp&) = delete;
  PlacementDp& operator=(const PlacementDp&) = delete;

  // The lowest latency among placements whose every stage and link accepts a frame within
  // `bound` ms (effective time <= bound), if it is at most `cap` (kInf: no bound, no cap).
  // The cap prunes: prefixes already slower than it are dropped.
  std::optional<Solution> MinLatency(double bound, double cap) const {
    return Run<true>(bound, cap);
  }
  // The lowest bottleneck.
  std::optional<Solution> MinBottleneck() const { return Run<false>(kInf, kInf); }

  // Every effective stage or link time strictly between lo and hi: the bottleneck values a
  // placement can have in that range. The vector is the programme's own, refilled by each call.
  std::vector<double>& Candidates(double lo, double hi);

 private:
  // Worker groups: g < plain_groups_ is g = j * replicas_ + r, worker j alone (r = 0) or
  // workers j - 1 and j (r = 1); replicas_ is 1 or 2. Above them, g = plain_groups_ + j *
  // shard_slots_ + (k - 2) is workers j - k + 1 .. j running one layer in k shards. Both
  // kinds are ordered by their last worker, so the groups after worker j are two ranges.
  // A group's parity is how many alternating halves it splits frames into: 2 for replicas,
  // 1 otherwise (shards all see every frame).
  bool IsShard(int g) const { return g >= plain_groups_; }
  int GroupLast(int g) const { return last_[g]; }
  int GroupFirst(int g) const { return first_[g]; }
  int GroupParity(int g) const { return parity_[g]; }
  bool GroupValid(int g) const { return first_[g] >= 0; }
  // The first plain and the first shard group whose workers all come after worker j.
  int PlainAfter(int j) const { return (j + 1) * replicas_; }
  int ShardAfter(int j) const { return plain_groups_ + (j + 1) * shard_slots_; }
  // The effective time of something shared by `count` (1 or 2) replicas: t / count, written
  // as a product because halving is exact either way.
  static double Spread(double t, int count) { return count == 2 ? t * 0.5 : t; }

  // Offset of stage [b, e) in one worker's triangular table.
  size_t StageIndex(int j, int b, int e) const {
    const size_t row = static_cast<size_t>(b) * n_ - static_cast<size_t>(b) * (b - 1) / 2;
    return j * per_worker_ + row + (e - b - 1);
  }
  // The time of shard group g (>= plain_groups_) running layer b: its slowest shard.
  double ShardTime(int g, int b) const {
    return shard_[static_cast<size_t>(b) * shard_groups_ + (g - plain_groups_)];
  }
  // The slowest physical link of a hop between two sets of endpoints (group members; index
  // workers_ is the client), given every endpoint pair's link time at this cut.
  double HopTime(const std::vector<double>& pair_ms, const std::vector<int>& senders,
                 const std::vector<int>& receivers) const;
  std::vector<int> Members(int g) const;
  // The total time of group g running [b, e), and how often it then accepts a frame.
  double StageTime(int g, int b, int e) const {
    if (IsShard(g)) return e == b + 1 ? ShardTime(g, b) : kInf;
    const double t1 = stage_[StageIndex(GroupLast(g), b, e)];
    return GroupParity(g) == 2 ? std::max(stage_[StageIndex(GroupLast(g) - 1, b, e)], t1) : t1;
  }
  double StageEffective(int g, int b, int e) const {
    return Spread(StageTime(g, b, e), GroupParity(g));
  }

  template <bool kLatency>
  std::optional<Solution> Run(double bound, double cap) const;

  int n_;
  int workers_;
  int replicas_;  // 2 when replication is allowed
  int plain_groups_;
  int shard_slots_;  // shard counts per last worker: 2 .. shard_slots_ + 1
  int shard_groups_;
  int groups_;
  std::vector<int> first_;   // per group; -1 where the group would start before worker 0
  std::vector<int> last_;    // per group
  std::vector<int> parity_;  // per group
  bool has_client_;
  bool track_stages_;  // whether max_stages binds, so the stage count is part of the state
  int stage_counts_;   // K
  size_t per_worker_;
  // stage_[StageIndex(j, b, e)]: the total time of [b, e) on worker j, kInf where privacy or
  // the EPC without paging forbids it. stage_floor_: its suffix minimum over e (rounded down
  // to a float, to halve the memory), a lower bound that only grows with e, so a bounded
  // search can stop a row early.
  std::vector<double> stage_;
  std::vector<float> stage_floor_;
  // ShardTime's table, by layer then shard group; kInf where the layer cannot be sharded or
  // privacy or the EPC forbids it. shard_live_[b]: whether any shard group can run layer b.
  std::vector<double> shard_;
  std::vector<char> shard_live_;
  // hop_[(b * groups_ + a) * groups_ + c]: time of the hop from group a to group c at cut b.
  std::vector<double> hop_;
  std::vector<double> client_in_;   // per group, cut 0
  std::vector<double> client_out_;  // per group, cut n
  std::vector<double> candidates_;  // Candidates()' answer
};

PlacementDp::PlacementDp(const Problem& problem)
    : n_(problem.model.num_layers()),
      workers_(problem.cluster.num_workers()),
      replicas_(problem.allow_replication ? 2 : 1),
      plain_groups_(workers_ * replicas_),
      shard_slots_(std::max(0, std::min(problem.max_shards, workers_) - 1)),
      shard_groups_(workers_ * shard_slots_),
      groups_(plain_groups_ + shard_groups_),
      has_client_(!problem.cluster.client.empty()),
      track_stages_(problem.max_stages > 0 && problem.max_stages < workers_),
      stage_counts_(track_stages_ ? problem.max_stages : 1),
      per_worker_(static_cast<size_t>(n_) * (n_ + 1) / 2) {
  const ModelProfile& model = problem.model;
  for (int g = 0; g < groups_; ++g) {
    const int last = IsShard(g) ? (g - plain_groups_) / shard_slots_ : g / replicas_;
    const int size = IsShard(g) ? (g - plain_groups_) % shard_slots_ + 2 : 1 + g % replicas_;
    last_.push_back(last);
    first_.push_back(last - size + 1 >= 0 ? last - size + 1 : -1);
    parity_.push_back(IsShard(g) ? 1 : size);
  }
  stage_ = std::move(table_cache.stage);
  stage_floor_ = std::move(table_cache.stage_floor);
  hop_ = std::move(table_cache.hop);
  candidates_ = std::move(table_cache.candidates);
  stage_.assign(per_worker_ * workers_, kInf);
  stage_floor_.assign(per_worker_ * workers_, std::numeric_limits<float>::infinity());
  // shard_ms[(j * n_ + b) * shard_slots_ + k - 2]: one of k shards of layer b on worker j.
  std::vector<double> shard_ms(static_cast<size_t>(workers_) * n_ * shard_slots_, kInf);
  for (int j = 0; j < workers_; ++j) {
    const WorkerProfile& worker = problem.cluster.workers[j];
    const std::vector<double> layer_ms = WorkerLayerTimesMs(model, worker);
    for (int b = 0; b < n_; ++b) {
      if (b < problem.privacy_layers && !worker.is_enclave()) continue;
      double* row = &stage_[StageIndex(j, b, b + 1)];
      StageCostAccumulator acc(model, worker, layer_ms.data(), b);
      for (int e = b + 1; e <= n_; ++e) {
        acc.Extend();
        if (!problem.allow_paging && acc.Pages()) continue;
        row[e - b - 1] = acc.TotalMs();
      }
      float* floor = &stage_floor_[StageIndex(j, b, b + 1)];
      double running = kInf;
      for (int e = n_; e > b; --e) {
        running = std::min(running, row[e - b - 1]);
        floor[e - b - 1] = FloatBelow(running);
      }
      // A sharded stage is never the first or the last (cost_model.h), so neither is its layer.
      if (!Shardable(model.layers[b]) || b == 0 || b == n_ - 1) continue;
      for (int k = 2; k < shard_slots_ + 2; ++k) {
        const StageCost cost = ComputeShardCost(model, worker, layer_ms, b, k);
        if (!problem.allow_paging && cost.swapped_pages > 0) continue;
        shard_ms[(static_cast<size_t>(j) * n_ + b) * shard_slots_ + k - 2] = cost.total_ms();
      }
    }
  }
  shard_.assign(static_cast<size_t>(n_) * shard_groups_, kInf);
  shard_live_.assign(n_, 0);
  for (int g = plain_groups_; g < groups_; ++g) {
    if (!GroupValid(g)) continue;
    const int k = GroupLast(g) - GroupFirst(g) + 1;
    for (int b = 0; b < n_; ++b) {
      double t = 0;
      for (int j = GroupFirst(g); j <= GroupLast(g); ++j) {
        t = std::max(t, shard_ms[(static_cast<size_t>(j) * n_ + b) * shard_slots_ + k - 2]);
      }
      shard_[static_cast<size_t>(b) * shard_groups_ + (g - plain_groups_)] = t;
      if (t < kInf) shard_live_[b] = 1;
    }
  }

  const int endpoints = workers_ + 1;
  std::vector<std::optional<ResolvedLink>> links(static_cast<size_t>(endpoints) * endpoints);
  auto name = [&](int a) -> const std::string& {
    return a == workers_ ? problem.cluster.client : problem.cluster.workers[a].name;
  };
  for (int a = 0; a < endpoints; ++a) {
    for (int c = 0; c < endpoints; ++c) {
      if (a == c || ((a == workers_ || c == workers_) && !has_client_)) continue;
      links[a * endpoints + c] = FindLink(problem.cluster, name(a), name(c));
    }
  }
  std::vector<double> pair_ms(links.size());
  auto time_pairs = [&](int64_t bytes) {
    for (size_t i = 0; i < links.size(); ++i) {
      pair_ms[i] = links[i] ? LinkTimeMs(bytes, *links[i]) : kInf;
    }
  };
  std::vector<std::vector<int>> members(groups_);
  for (int g = 0; g < groups_; ++g) {
    if (GroupValid(g)) members[g] = Members(g);
  }
  // The fan between worker j and the shards of a shard group (cost_model.h), out of j or into
  // it; nullopt where a link is missing.
  auto fan = [&](int j, const std::vector<int>& shards, bool out) -> std::optional<FanTime> {
    std::vector<ResolvedLink> resolved;
    for (int i : shards) {
      const std::optional<ResolvedLink>& link =
          out ? links[j * endpoints + i] : links[i * endpoints + j];
      if (!link) return std::nullopt;
      resolved.push_back(*link);
    }
    const int k = static_cast<int>(shards.size());
    return out ? ComputeFanOutTime(resolved.data(), k, problem.cluster.workers[j].aead_bytes_per_s)
               : ComputeFanInTime(resolved.data(), k);
  };

  hop_.assign(static_cast<size_t>(n_) * groups_ * groups_, kInf);
  for (int b = 1; b < n_; ++b) {
    time_pairs(model.cut_bytes[b]);
    for (int a = 0; a < plain_groups_; ++a) {
      if (!GroupValid(a)) continue;
      for (int c = PlainAfter(GroupLast(a)); c < plain_groups_; ++c) {
        if (!GroupValid(c) || GroupFirst(c) <= GroupLast(a)) continue;
        hop_[(static_cast<size_t>(b) * groups_ + a) * groups_ + c] =
            HopTime(pair_ms, members[a], members[c]);
      }
    }
  }
  // Hops between a whole group and a shard group, either way: a fan per worker of the whole
  // group (each replica fans its own frames), the same pairing as EvaluatePlacement. No hop
  // joins two shard groups, and none joins the client to one (cost_model.h): those stay
  // infinite.
  for (int a = 0; a < groups_; ++a) {
    if (!GroupValid(a)) continue;
    for (int c = 0; c < groups_; ++c) {
      if (!GroupValid(c) || GroupFirst(c) <= GroupLast(a) || IsShard(a) == IsShard(c)) continue;
      const bool out = !IsShard(a);
      const int whole = out ? a : c;
      std::vector<FanTime> hop_fans;
      for (int j : members[whole]) {
        const std::optional<FanTime> f = fan(j, members[out ? c : a], out);
        if (!f) {
          hop_fans.clear();
          break;
        }
        hop_fans.push_back(*f);
      }
      if (hop_fans.empty()) continue;
      for (int b = 1; b < n_; ++b) {
        // Only where both stages can run: a shard group holds layer b - 1 or b alone.
        if ((IsShard(a) && ShardTime(a, b - 1) == kInf) ||
            (IsShard(c) && ShardTime(c, b) == kInf)) {
          continue;
        }
        double ms = 0;
        for (const FanTime& f : hop_fans) ms = std::max(ms, f.Ms(model.cut_bytes[b]));
        hop_[(static_cast<size_t>(b) * groups_ + a) * groups_ + c] = ms;
      }
    }
  }
  // The client's hops, into the first stage and out of the last: whole groups only.
  client_in_.assign(groups_, kInf);
  client_out_.assign(groups_, kInf);
  if (has_client_) {
    const std::vector<int> client = {workers_};
    time_pairs(model.cut_bytes[0]);
    for (int g = 0; g < plain_groups_; ++g) {
      if (GroupValid(g)) client_in_[g] = HopTime(pair_ms, client, members[g]);
    }
    time_pairs(model.cut_bytes[n_]);
    for (int g = 0; g < plain_groups_; ++g) {
      if (GroupValid(g)) client_out_[g] = HopTime(pair_ms, members[g], client);
    }
  }
}

PlacementDp::~PlacementDp() {
  table_cache.stage = std::move(stage_);
  table_cache.stage_floor = std::move(stage_floor_);
  table_cache.hop = std::move(hop_);
  table_cache.candidates = std::move(candidates_);
}

std::vector<int> PlacementDp::Members(int g) const {
  std::vector<int> members;
  for (int j = GroupFirst(g); j <= GroupLast(g); ++j) members.push_back(j);
  return members;
}

double PlacementDp::HopTime(const std::vector<double>& pair_ms, const std::vector<int>& senders,
                            const std::vector<int>& receivers) const {
  // The same pairing as EvaluatePlacement: replica k feeds replica k, a single end serves both.
  const size_t count = std::max(senders.size(), receivers.size());
  double time = 0;
  for (size_t k = 0; k < count; ++k) {
    const int a = senders[senders.size() == 1 ? 0 : k];
    const int c = receivers[receivers.size() == 1 ? 0 : k];
    time = std::max(time, pair_ms[a * (workers_ + 1) + c]);
  }
  return time;
}

template <bool kLatency>
std::optional<PlacementDp::Solution> PlacementDp::Run(double bound, double cap) const {
  const int G = groups_;
  const int K = stage_counts_;
  const int k_shift = track_stages_ ? 1 : 0;
  // Stage counts are padded to a multiple of 4 (with infinities) so that the stage loop can
  // update four at a time with fixed-width, vectorisable code.
  const int S = track_stages_ ? (K + 3) / 4 * 4 : 1;
  // f at (g, e, k): the stage loop walks e for a fixed g, so e is the outer index within a
  // group. No argmins are stored: the hot loops only take minima, and the path is found
  // afterwards by recomputing the same values (see the reconstruction below).
  std::vector<double> f(static_cast<size_t>(n_ + 1) * G * S, kInf);
  std::vector<double> g(static_cast<size_t>(G) * S);
  auto fi = [&](int e, int grp, int k) {
    return (static_cast<size_t>(grp) * (n_ + 1) + e) * S + k;
  };
  // Adds a stage or link of total time t and effective time eff to a prefix value; one over
  // the bound is as good as absent.
  auto combine = [bound](double prefix, double t, double eff) {
    if (eff > bound) return kInf;
    return kLatency ? prefix + t : std::max(prefix, eff);
  };
  // The best complete placement so far, or just above the cap: a bound that prunes every
  // prefix that cannot beat it (branch and bound; every value only grows along a path).
  double best = std::nextafter(cap, kInf);
  int best_group = -1;
  int best_k = -1;
  auto hop_eff = [&](int b, int a, int c) {
    return Spread(hop_[(static_cast<size_t>(b) * G + a) * G + c],
                  std::max(GroupParity(a), GroupParity(c)));
  };
  // The pipeline's start: the hop from the client into group c, if the client is modelled.
  auto g_start = [&](int c) {
    return has_client_ ? combine(0, client_in_[c], Spread(client_in_[c], GroupParity(c))) : 0.0;
  };
  // g at cut b: the best prefix ending at b, extended by the hop into each group.
  auto compute_g = [&](int b) {
    std::fill(g.begin(), g.end(), kInf);
    if (b == 0) {
      // The first stage is a whole one.
      for (int c = 0; c < plain_groups_; ++c) {
        if (GroupValid(c)) g[c * S] = g_start(c);
      }
      return;
    }
    const double* shard_row = &shard_[static_cast<size_t>(b) * shard_groups_];
    for (int a = 0; a < G; ++a) {
      if (!GroupValid(a)) continue;
      const double* fa = &f[fi(b, a, 0)];
      // Prefixes that are already no better than a complete placement lead nowhere.
      const double fa_min = *std::min_element(fa, fa + K);
      if (fa_min >= best) continue;
      const double* hops = &hop_[(static_cast<size_t>(b) * G + a) * G];
      const int size_a = GroupParity(a);
      for (int c = PlainAfter(GroupLast(a)); c < plain_groups_; ++c) {
        const double t = hops[c];
        const double eff = Spread(t, std::max(size_a, GroupParity(c)));
        if (eff > bound) continue;  // combine() would give infinity
        double* gc = &g[c * S];
        for (int k = k_shift; k < K; ++k) {
          gc[k] = std::min(gc[k], kLatency ? fa[k - k_shift] + t : std::max(fa[k - k_shift], eff));
        }
      }
      // Shard groups take one layer; their hops are infinite where it cannot be sharded, and
      // no shard group follows another. The stage that must follow is known, so a hop that
      // leads only past the bound or the best placement is not taken (reconstruction still
      // finds the same minimum: what is skipped here is no better than the best).
      if (!shard_live_[b] || IsShard(a)) continue;
      for (int c = ShardAfter(GroupLast(a)); c < G; ++c) {
        const double t = hops[c];
        const double eff = Spread(t, size_a);
        const double stage = shard_row[c - plain_groups_];
        if (t == kInf || eff > bound || stage > bound ||
            (kLatency ? fa_min + t + stage : std::max(std::max(fa_min, eff), stage)) >= best) {
          continue;
        }
        double* gc = &g[c * S];
        for (int k = k_shift; k < K; ++k) {
          gc[k] = std::min(gc[k], kLatency ? fa[k - k_shift] + t : std::max(fa[k - k_shift], eff));
        }
      }
    }
  };
  // One entry of g, recomputed the same way (the minimum of the same doubles).
  auto g_value = [&](int b, int c, int k) {
    if (b == 0) return k == 0 && !IsShard(c) ? g_start(c) : kInf;
    double v = kInf;
    if (k < k_shift) return v;
    for (int a = 0; a < G; ++a) {
      if (!GroupValid(a) || GroupLast(a) >= GroupFirst(c)) continue;
      v = std::min(v, combine(f[fi(b, a, k - k_shift)],
                              hop_[(static_cast<size_t>(b) * G + a) * G + c], hop_eff(b, a, c)));
    }
    return v;
  };
  auto complete = [&](int c, int k) {
    const double v = f[fi(n_, c, k)];
    return has_client_ ? combine(v, client_out_[c], Spread(client_out_[c], GroupParity(c))) : v;
  };

  for (int b = 0; b < n_; ++b) {
    compute_g(b);
    // Relaxes every stage [b, e) on group c for kWidth stage counts at a time (1, or 4 when
    // counts are tracked); only minima inside, so no branch mispredicts.
    auto relax_row = [&](int c, auto pair_tag, auto width_tag) {
      constexpr bool kPair = decltype(pair_tag)::value;
      constexpr int kWidth = decltype(width_tag)::value;
      const int j = GroupLast(c);
      const double* t1 = &stage_[StageIndex(j, b, b + 1)];
      const float* f1 = &stage_floor_[StageIndex(j, b, b + 1)];
      const double* t0 = kPair ? &stage_[StageIndex(j - 1, b, b + 1)] : t1;
      const float* f0 = kPair ? &stage_floor_[StageIndex(j - 1, b, b + 1)] : f1;
      for (int k0 = 0; k0 < K; k0 += kWidth) {
        const double* gk = &g[c * S + k0];
        const double g_min = *std::min_element(gk, gk + kWidth);
        if (g_min >= best) continue;
        double* fk = &f[fi(0, c, k0)];
        int e = b + 1;
        for (; e <= n_; ++e) {
          // Lower bounds on this stage and every longer one from the same start: once they
          // break the bound or cannot beat the best complete placement so far, stop. (An
          // infeasible rest of the row has an infinite floor and stops here too.)
          const int o = e - b - 1;
          const double floor_t = kPair ? std::max(f0[o], f1[o]) : f1[o];  // exact in double
          const double floor_eff = kPair ? Spread(floor_t, 2) : floor_t;
          if (floor_eff > bound ||
              (kLatency ? g_min + floor_t : std::max(g_min, floor_eff)) >= best) {
            break;
          }
          const double t = kPair ? std::max(t0[o], t1[o]) : t1[o];
          const double eff = kPair ? Spread(t, 2) : t;
          // combine(gk[q], t, eff) with the bound test hoisted out of the q loop.
          const double add = eff > bound ? kInf : (kLatency ? t : eff);
          double* fe = fk + static_cast<size_t>(e) * S;
          for (int q = 0; q < kWidth; ++q) {
            fe[q] = std::min(fe[q], kLatency ? gk[q] + add : std::max(gk[q], add));
          }
        }
        if (e <= n_) continue;
        for (int k = k0; k < std::min(k0 + kWidth, K); ++k) {
          const double v = complete(c, k);
          if (v < best) {
            best = v;
            best_group = c;
            best_k = k;
          }
        }
      }
    };
    for (int c = 0; c < plain_groups_; ++c) {
      const bool pair = GroupParity(c) == 2;
      if (S == 1) {
        pair ? relax_row(c, std::true_type{}, std::integral_constant<int, 1>{})
             : relax_row(c, std::false_type{}, std::integral_constant<int, 1>{});
      } else {
        pair ? relax_row(c, std::true_type{}, std::integral_constant<int, 4>{})
             : relax_row(c, std::false_type{}, std::integral_constant<int, 4>{});
      }
    }
    // Shard groups: the one stage [b, b + 1).
    if (!shard_live_[b]) continue;
    for (int c = plain_groups_; c < G; ++c) {
      if (!GroupValid(c)) continue;
      const double t = ShardTime(c, b);
      const double* gc = &g[c * S];
      if (t > bound || *std::min_element(gc, gc + K) >= best) continue;
      double* fe = &f[fi(b + 1, c, 0)];
      for (int k = 0; k < K; ++k) fe[k] = std::min(fe[k], combine(gc[k], t, t));
      if (b + 1 < n_) continue;
      for (int k = 0; k < K; ++k) {
        const double v = complete(c, k);
        if (v < best) {
          best = v;
          best_group = c;
          best_k = k;
        }
      }
    }
  }
  if (best_group < 0) return std::nullopt;

  // Reconstruction: f[b] is final once cut b is reached, so recomputing g at b and the stage
  // values gives the very doubles the programme minimised over; the predecessor is any one
  // whose value matches exactly.
  Solution solution;
  solution.value = best;
  int e = n_;
  int c = best_group;
  int k = best_k;
  if (has_client_) solution.bottleneck = Spread(client_out_[c], GroupParity(c));
  while (true) {
    const double target = f[fi(e, c, k)];
    int b = e - 1;
    double g_target = kInf;
    // A shard group's stage is the one layer before e.
    for (; b >= (IsShard(c) ? e - 1 : 0); --b) {
      g_target = g_value(b, c, k);
      if (combine(g_target, StageTime(c, b, e), StageEffective(c, b, e)) == target) break;
    }
    if (b < (IsShard(c) ? e - 1 : 0)) return std::nullopt;  // unreachable: the programme's own
    solution.plan.push_back(StagePlan{b, e, Members(c), IsShard(c)});
    solution.bottleneck = std::max(solution.bottleneck, StageEffective(c, b, e));
    if (b == 0) break;
    int a = 0;
    for (; a < G; ++a) {
      if (!GroupValid(a) || GroupLast(a) >= GroupFirst(c)) continue;
      const double t = hop_[(static_cast<size_t>(b) * G + a) * G + c];
      if (combine(f[fi(b, a, k - k_shift)], t, hop_eff(b, a, c)) == g_target) break;
    }
    if (a == G) return std::nullopt;  // unreachable, as above
    solution.bottleneck = std::max(solution.bottleneck, hop_eff(b, a, c));
    c = a;
    k -= k_shift;
    e = b;
  }
  if (has_client_) {
    solution.bottleneck = std::max(solution.bottleneck, Spread(client_in_[c], GroupParity(c)));
  }
  std::reverse(solution.plan.begin(), solution.plan.end());
  return solution;
}

std::vector<double>& PlacementDp::Candidates(double lo, double hi) {
  std::vector<double>& out = candidates_;
  out.clear();
  auto take = [&](double v) {
    if (v > lo && v < hi) out.push_back(v);
  };
  for (int c = 0; c < groups_; ++c) {
    if (!GroupValid(c)) continue;
    if (has_client_ && !IsShard(c)) {
      take(Spread(client_in_[c], GroupParity(c)));
      take(Spread(client_out_[c], GroupParity(c)));
    }
    if (IsShard(c)) {
      for (int b = 0; b < n_; ++b) take(ShardTime(c, b));
      continue;
    }
    const int j = GroupLast(c);
    const bool pair = GroupParity(c) == 2;
    for (int b = 0; b < n_; ++b) {
      const double* t1 = &stage_[StageIndex(j, b, b + 1)];
      const float* f1 = &stage_floor_[StageIndex(j, b, b + 1)];
      const double* t0 = pair ? &stage_[StageIndex(j - 1, b, b + 1)] : t1;
      const float* f0 = pair ? &stage_floor_[StageIndex(j - 1, b, b + 1)] : f1;
      for (int o = 0; o < n_ - b; ++o) {
        if (pair) {
          // The floors bound the rest of the row from below.
          if (Spread(std::max(f0[o], f1[o]), 2) >= hi) break;
          take(Spread(std::max(t0[o], t1[o]), 2));
        } else {
          if (f1[o] >= hi) break;
          take(t1[o]);
        }
      }
    }
  }
  for (int b = 1; b < n_; ++b) {
    for (int a = 0; a < groups_; ++a) {
      // Hops out of a shard group are tabulated only where it can hold layer b - 1, and into
      // one only where it can hold layer b.
      if (!GroupValid(a) || (IsShard(a) && ShardTime(a, b - 1) == kInf)) continue;
      const double* hops = &hop_[(static_cast<size_t>(b) * groups_ + a) * groups_];
      auto take_hops = [&](int from, int to) {
        for (int c = from; c < to; ++c) {
          take(Spread(hops[c], std::max(GroupParity(a), GroupParity(c))));
        }
      };
      take_hops(PlainAfter(GroupLast(a)), plain_groups_);
      if (shard_live_[b] && !IsShard(a)) take_hops(ShardAfter(GroupLast(a)), groups_);
    }
  }
  return out;
}

// The optimum, nullopt when no placement meets every constraint, or Internal when the
// programme and the cost model disagree (a bug).
Result<std::optional<Placement>> SolveExact(const Problem& problem) {
  PlacementDp dp(problem);
  const double slo = problem.latency_slo_ms.value_or(kInf);
  std::optional<PlacementDp::Solution> solution;
  if (problem.objective == Objective::kLatency) {
    solution = dp.MinLatency(kInf, slo);
  } else {
    const std::optional<PlacementDp::Solution> fastest = dp.MinBottleneck();
    if (!fastest) return std::optional<Placement>();
    solution = dp.MinLatency(fastest->value, slo);
    if (!solution) {
      // Search bottleneck values in (fastest, hi): hi is the bottleneck of the placement with
      // the lowest latency, which meets the SLO if any placement does.
      solution = dp.MinLatency(kInf, slo);
      if (!solution) return std::optional<Placement>();
      double hi = solution->bottleneck;
      std::vector<double>& candidates = dp.Candidates(fastest->value, hi);
      while (!candidates.empty()) {
        const auto mid = candidates.begin() + candidates.size() / 2;
        std::nth_element(candidates.begin(), mid, candidates.end());
        const double c = *mid;
        std::optional<PlacementDp::Solution> trial = dp.MinLatency(c, slo);
        if (trial) {
          // hi <= c, so c and everything above it goes.
          hi = trial->bottleneck;
          solution = std::move(trial);
          candidates.erase(
              std::remove_if(candidates.begin(), mid + 1, [hi](double v) { return v >= hi; }),
              candidates.end());
        } else {
          candidates.erase(std::remove_if(candidates.begin(), candidates.end(),
                                          [c](double v) { return v <= c; }),
                           candidates.end());
        }
      }
    }
  }
  if (!solution) return std::optional<Placement>();
  SERDAB_ASSIGN_OR_RETURN(Placement placement, EvaluatePlacement(problem, solution->plan));
  // Every answer comes from MinLatency, so its value is the placement's latency.
  const double value = placement.latency_ms;
  if (std::abs(value - solution->value) > 1e-9 * std::max(1.0, std::abs(value))) {
    return Status::Internal("placement solver: the programme predicted " +
                            std::to_string(solution->value) + " but the cost model gives " +
                            std::to_string(value));
  }
  return std::optional<Placement>(std::move(placement));
}

// Checks that show an instance infeasible before any search, with the most specific message.
Status QuickInfeasibility(const Problem& problem) {
  const Cluster& cluster = problem.cluster;
  int64_t largest_epc = 0;
  int enclaves = 0;
  for (const WorkerProfile& w : cluster.workers) {
    if (!w.is_enclave()) continue;
    ++enclaves;
    largest_epc = std::max(largest_epc, w.epc_bytes);
  }
  const bool has_outside = enclaves < cluster.num_workers();
  if (problem.privacy_layers > 0 && enclaves == 0) {
    return Status::FailedPrecondition("privacy requires the first " +
                                      std::to_string(problem.privacy_layers) +
                                      " layers in enclaves but no enclave worker is available");
  }
  if (problem.allow_paging) return Status::Ok();
  // The most shards a layer that must run in enclaves can be split into.
  const int max_shards = std::max(1, std::min(problem.max_shards, enclaves));
  const int n = problem.model.num_layers();
  const std::string privacy_cut = std::to_string(problem.privacy_layers);
  // Whether the layer before fits an EPC only sharded.
  bool previous_only_sharded = false;
  for (int i = 0; i < n; ++i) {
    const bool outside_allowed = has_outside && i >= problem.privacy_layers;
    const LayerProfile& layer = problem.model.layers[i];
    // Every stage holding the layer needs at least its weights and peak activations, or, if
    // it streams, the layer's weights that cannot stream, its activations and at least one
    // chunk's window (any other layer in the stage adds at least the bytes it lets stream).
    // Streaming helps only a layer that can stream more than the window. A shard of k holds
    // 1/k of the weights (rounded up), and of the streamable ones. A sharded stage is never
    // the first or the last (cost_model.h), so neither the first nor the last layer shards.
    const bool end_layer = i == 0 || i == n - 1;
    const bool could_shard = Shardable(layer) && max_shards > 1;
    const int shards = could_shard && !end_layer ? max_shards : 1;
    auto needs = [&](int k) {
      const int64_t need = (layer.weight_bytes + k - 1) / k + layer.activation_bytes;
      const int64_t streamed_need = need - (layer.streamable_weight_bytes + k - 1) / k +
                                    static_cast<int64_t>(engine::kWeightChunkBytes);
      return std::min(need, streamed_need);
    };
    if (outside_allowed || needs(1) <= largest_epc) {
      previous_only_sharded = false;
      continue;
    }
    int64_t sharded_need = std::numeric_limits<int64_t>::max();
    for (int k = 2; k <= shards; ++k) sharded_need = std::min(sharded_need, needs(k));
    if (sharded_need <= largest_epc) {
      // It must be sharded; so must the layer before, if that one fits only sharded too.
      if (previous_only_sharded) {
        const LayerProfile& before = problem.model.layers[i - 1];
        return Status::FailedPrecondition(
            "layers " + std::to_string(i - 1) + " '" + before.name + "' and " + std::to_string(i) +
            " '" + layer.name + "' each fit an EPC only sharded (the largest EPC is " +
            FormatBytes(largest_epc) + " and paging is disallowed" +
            (has_outside ? "; both are before the privacy cut at layer " + privacy_cut +
                               ", so they must run in enclaves"
                         : std::string()) +
            "), but two sharded stages cannot be adjacent: each shard's part would have to "
            "reach every shard of the next layer");
      }
      previous_only_sharded = true;
      continue;
    }
    const int64_t need = layer.weight_bytes + layer.activation_bytes;
    const int64_t streamed_need =
        need - layer.streamable_weight_bytes + static_cast<int64_t>(engine::kWeightChunkBytes);
    std::string message =
        "layer " + std::to_string(i) + " '" + layer.name + "' needs " + FormatBytes(need) +
        " of weights and activations" +
        (streamed_need < need
             ? " (" + FormatBytes(streamed_need) + " with its streamable weights streamed)"
             : std::string()) +
        (shards > 1 ? " and at least " + FormatBytes(sharded_need) + " a shard split up to " +
                          std::to_string(shards) + " ways"
                    : std::string()) +
        " but the largest EPC is " + FormatBytes(largest_epc) + " and paging is disallowed";
    if (has_outside) {
      message += " (it is before the privacy cut at layer " + privacy_cut +
                 ", so it must run in an enclave)";
    }
    if (could_shard && end_layer) {
      message += std::string("; it cannot be sharded, as the model's ") +
                 (i == 0 ? "first" : "last") +
                 " layer: a sharded stage is never the first or the last, since the client "
                 "sends whole frames and takes whole results";
    }
    return Status::FailedPrecondition(message);
  }
  return Status::Ok();
}

Result<bool> Feasible(const Problem& problem) {
  SERDAB_ASSIGN_OR_RETURN(const std::optional<Placement> placement, SolveExact(problem));
  return placement.has_value();
}

// Names the constraint that makes an infeasible problem infeasible: the first whose
// relaxation alone admits a placement, or all of them when only relaxing several would.
Status Diagnose(const Problem& problem) {
  std::vector<std::string> active;
  if (problem.latency_slo_ms) {
    Problem relaxed = problem;
    relaxed.latency_slo_ms.reset();
    relaxed.objective = Objective::kLatency;
    SERDAB_ASSIGN_OR_RETURN(const std::optional<Placement> best, SolveExact(relaxed));
    if (best) {
      return Status::FailedPrecondition("no placement meets the latency SLO of " +
                                        FormatMs(*problem.latency_slo_ms) +
                                        " (best: " + FormatMs(best->latency_ms) + ")");
    }
    active.push_back("the latency SLO of " + FormatMs(*problem.latency_slo_ms));
  }
  if (problem.max_stages > 0 && problem.max_stages < problem.cluster.num_workers()) {
    for (int k = problem.max_stages + 1; k <= problem.cluster.num_workers(); ++k) {
      Problem relaxed = problem;
      relaxed.max_stages = k;
      SERDAB_ASSIGN_OR_RETURN(const bool feasible, Feasible(relaxed));
      if (feasible) {
        return Status::FailedPrecondition(
            "max_stages " + std::to_string(problem.max_stages) +
            " cannot hold the model: every placement that meets the other constraints needs at "
            "least " +
            std::to_string(k) + " stages" +
            (problem.allow_paging ? ""
                                  : " (paging is disallowed, so each stage must fit its EPC)"));
      }
    }
    active.push_back("max_stages " + std::to_string(problem.max_stages));
  }
  if (!problem.cluster.default_link) {
    Problem relaxed = problem;
    relaxed.cluster.default_link = DefaultLink{std::numeric_limits<double>::max(), 0};
    relaxed.objective = Objective::kLatency;
    SERDAB_ASSIGN_OR_RETURN(const std::optional<Placement> best, SolveExact(relaxed));
    if (best) {
      const Result<Placement> why = EvaluatePlacement(problem, [&] {
        std::vector<StagePlan> plan;
        for (const PlannedStage& s : best->stages) {
          plan.push_back({s.begin, s.end, s.workers, s.sharded});
        }
        return plan;
      }());
      return Status::FailedPrecondition(
          "every placement that meets the other constraints needs a link the cluster lacks" +
          (why.ok() ? std::string() : " (" + why.status().message() + ")") +
          "; add the link or a default link");
    }
    active.push_back("the links present (no default link)");
  }
  if (!problem.allow_paging) {
    Problem relaxed = problem;
    relaxed.allow_paging = true;
    SERDAB_ASSIGN_OR_RETURN(const bool feasible, Feasible(relaxed));
    int64_t total_epc = 0;
    int enclaves = 0;
    for (const WorkerProfile& w : problem.cluster.workers) {
      if (w.is_enclave()) {
        total_epc += w.epc_bytes;
        ++enclaves;
      }
    }
    if (feasible) {
      return Status::FailedPrecondition(
          "the model does not fit the EPC without paging: no placement on the " +
          std::to_string(enclaves) + " enclave worker(s) (" + FormatBytes(total_epc) +
          " of EPC in all) lets every stage run without paging (its working set within its "
          "EPC, or brought within it by streaming weights" +
          (problem.max_shards > 1
               ? std::string(", or by sharding a layer between two unsharded stages")
               : std::string()) +
          ") under the other constraints; allow paging or add enclave workers");
    }
    active.push_back("the EPC with paging disallowed");
  }
  if (problem.privacy_layers > 0) {
    Problem relaxed = problem;
    relaxed.privacy_layers = 0;
    SERDAB_ASSIGN_OR_RETURN(const bool feasible, Feasible(relaxed));
    if (feasible) {
      return Status::FailedPrecondition(
          "privacy requires the first " + std::to_string(problem.privacy_layers) +
          " layers in enclaves, but no placement of them on the enclave workers meets the other "
          "constraints");
    }
    active.push_back("privacy (the first " + std::to_string(problem.privacy_layers) +
                     " layers in enclaves)");
  }
  std::string message = "no placement meets these constraints together:";
  for (size_t i = 0; i < active.size(); ++i) message += (i ? "; " : " ") + active[i];
  return Status::FailedPrecondition(message);
}

}  // namespace

Status ValidateProblem(const Problem& problem) {
  SERDAB_RETURN_IF_ERROR(ValidateModel(problem.model));
  SERDAB_RETURN_IF_ERROR(ValidateCluster(problem.cluster, problem.model));
  if (problem.cluster.workers.empty()) {
    return Status::FailedPrecondition("the cluster has no workers");
  }
  if (problem.max_stages < 0)
    return Status::InvalidArgument("max_stages must be >= 0 (0: no limit)");
  if (problem.privacy_layers < 0 || problem.privacy_layers > problem.model.num_layers()) {
    return Status::InvalidArgument("privacy_layers is " + std::to_string(problem.privacy_layers) +
                                   " but must be between 0 and the model's " +
                                   std::to_string(problem.model.num_layers()) + " layers");
  }
  if (problem.max_shards < 0 || problem.max_shards > kMaxShards) {
    return Status::InvalidArgument("max_shards is " + std::to_string(problem.max_shards) +
                                   " but must be between 0 and " + std::to_string(kMaxShards) +
                                   " (0 or 1: no sharding)");
  }
  if (problem.latency_slo_ms &&
      !(std::isfinite(*problem.latency_slo_ms) && *problem.latency_slo_ms > 0)) {
    return Status::InvalidArgument("latency_slo_ms must be finite and > 0");
  }
  return Status::Ok();
}

Result<Placement> Solve(const Problem& problem) {
  SERDAB_RETURN_IF_ERROR(ValidateProblem(problem));
  SERDAB_RETURN_IF_ERROR(QuickInfeasibility(problem));
  SERDAB_ASSIGN_OR_RETURN(std::optional<Placement> placement, SolveExact(problem));
  if (placement) return std::move(*placement);
  return Diagnose(problem);
}

}  // namespace serdab::partitioner
