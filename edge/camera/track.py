"""A compact ByteTrack-style multi-object tracker: constant-velocity prediction, two association stages by score.

Per detection step:

1. every track predicts its box centre from its velocity (pixels per step), however many steps it has been lost;
2. high-score boxes are matched to all tracks (Hungarian on ``1 - IoU + distance/diagonal``, gated by
   ``max_jump`` diagonals of the smaller box from the prediction, the gate widening while a track is lost);
3. low-score boxes (partly hidden, half out of the picture) are matched to the tracks still unmatched, and only
   where they overlap the prediction (``low_min_iou``); they continue tracks but never start one: this is
   ByteTrack's idea, and what keeps ids through short occlusions without letting a track leap to a weak box
   elsewhere (a shop-window mannequin's track jumping to a passer-by's faint box and "crossing" the line);
4. unmatched high-score boxes start tentative tracks; a tentative track that misses a step is dropped; a confirmed
   one waits ``lost_buffer_s`` to be found again, then is removed.

Why not ultralytics' trackers: they need torch, which the edge must not. Why not a full Kalman filter: with one
measurement per step and short gaps, an exponentially smoothed velocity predicts as well and is simpler to reason
about; a Kalman filter would help with long gaps and noisy detectors (trade-off stated in docs/camera.md).

Track ids are ephemeral: they start at a random offset per process and mean nothing outside this sensor's run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from edge.camera.config import TrackerConfig
from edge.camera.detect import Detections

INFEASIBLE = 1e6


@dataclass(slots=True)
class Track:
    id: int
    box: np.ndarray  # x0, y0, x1, y1 of the last detection
    score: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre, pixels per step
    hits: int = 1
    missed: int = 0  # steps since the last detection
    confirmed: bool = False

    @property
    def center(self) -> np.ndarray:
        return np.array([(self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2])

    @property
    def diagonal(self) -> float:
        return float(np.hypot(self.box[2] - self.box[0], self.box[3] - self.box[1]))

    def predicted_box(self) -> np.ndarray:
        shift = self.velocity * (self.missed + 1)
        return self.box + np.array([shift[0], shift[1], shift[0], shift[1]])


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of boxes a (N×4) and b (M×4)."""
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


class ByteTracker:
    """Tracks people across detection steps.

    Args:
        cfg: thresholds and buffers (see :class:`TrackerConfig` for each trade-off).
        steps_per_s: detection steps per second (frame rate / detect_every), to turn seconds into steps.
        first_id: the first track id (default: random, so ids never link two runs).
    """

    def __init__(self, cfg: TrackerConfig, steps_per_s: float, first_id: int | None = None) -> None:
        self.cfg = cfg
        self.lost_buffer = max(1, round(cfg.lost_buffer_s * steps_per_s))
        self.tracks: list[Track] = []
        self.removed: list[int] = []  # ids removed by the last update
        self._next_id = secrets.randbelow(2**31) if first_id is None else first_id

    def update(self, dets: Detections) -> list[Track]:
        """One detection step; returns the tracks matched in this step (tentative ones included)."""
        self.removed = []
        high = np.nonzero(dets.score >= self.cfg.high_score)[0]
        low = np.nonzero((dets.score >= self.cfg.low_score) & (dets.score < self.cfg.high_score))[0]
        pairs, free_tracks, free_high = self._associate(list(range(len(self.tracks))), high, dets)
        active = [t for t in free_tracks if self.tracks[t].confirmed]
        more, free_after_low, _ = self._associate(active, low, dets, min_iou=self.cfg.low_min_iou)
        pairs += more
        matched: list[Track] = []
        for t, d in pairs:
            matched.append(self._continue(self.tracks[t], dets.xyxy[d], float(dets.score[d])))
        still_free = set(free_after_low) | {t for t in free_tracks if not self.tracks[t].confirmed}
        kept: list[Track] = []
        for i, track in enumerate(self.tracks):
            if i in still_free:
                track.missed += 1
                if not track.confirmed or track.missed > self.lost_buffer:
                    self.removed.append(track.id)
                    continue
            kept.append(track)
        for d in free_high:
            track = Track(self._next_id, dets.xyxy[d].astype(np.float64), float(dets.score[d]))
            track.confirmed = self.cfg.min_hits <= 1
            self._next_id = (self._next_id + 1) % 2**63
            kept.append(track)
            matched.append(track)
        self.tracks = kept
        return matched

    def _associate(self, track_idx: list[int], det_idx: np.ndarray, dets: Detections, min_iou: float = 0.0):
        """Hungarian matching; returns (pairs, unmatched track indices, unmatched detection indices). Pairs
        overlapping less than ``min_iou`` (IoU with the prediction) are not allowed."""
        if not track_idx or len(det_idx) == 0:
            return [], track_idx, list(det_idx)
        tracks = [self.tracks[i] for i in track_idx]
        boxes = dets.xyxy[det_idx].astype(np.float64)
        pred = np.stack([t.predicted_box() for t in tracks])
        centers = np.column_stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2])
        pred_c = np.column_stack([(pred[:, 0] + pred[:, 2]) / 2, (pred[:, 1] + pred[:, 3]) / 2])
        # distances in box diagonals, of the smaller of the two boxes: a small, far person is not the next step of
        # a large near box (a box cut by the frame edge, or a person walking out of the picture, is large)
        diag = np.array([max(t.diagonal, 1.0) for t in tracks])
        det_diag = np.maximum(np.hypot(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]), 1.0)
        dist = np.linalg.norm(pred_c[:, None, :] - centers[None, :, :], axis=2) / np.minimum(diag[:, None],
                                                                                             det_diag[None, :])
        # the gate widens a little while a track is lost (at most +50 %), and by half for a track without velocity
        gate = np.array([self.cfg.max_jump * (1 + 0.1 * min(t.missed, 5)) * (1.0 if t.hits > 1 else 1.5)
                         for t in tracks])
        iou = box_iou(pred, boxes)
        cost = 1 - iou + dist
        cost[(dist > gate[:, None]) | (iou < min_iou)] = INFEASIBLE
        rows, cols = linear_sum_assignment(cost)
        pairs = [(track_idx[r], int(det_idx[c])) for r, c in zip(rows, cols, strict=True) if cost[r, c] < INFEASIBLE]
        used_t = {p[0] for p in pairs}
        used_d = {p[1] for p in pairs}
        return pairs, [i for i in track_idx if i not in used_t], [int(d) for d in det_idx if int(d) not in used_d]

    def _continue(self, track: Track, box: np.ndarray, score: float) -> Track:
        old_center, steps = track.center, track.missed + 1
        track.box, track.score = box.astype(np.float64), score
        step_velocity = (track.center - old_center) / steps
        velocity = step_velocity if track.hits == 1 else 0.5 * track.velocity + 0.5 * step_velocity
        # a person's speed is bounded: a step longer than that is an id switch or a jumpy box, and extrapolating
        # it would steer the track into someone else
        limit = self.cfg.max_speed * max(track.diagonal, 1.0)  # the new box's diagonal
        speed = float(np.hypot(*velocity))
        track.velocity = velocity if speed <= limit else velocity * (limit / speed)
        track.hits += 1
        track.missed = 0
        track.confirmed = track.confirmed or track.hits >= self.cfg.min_hits
        return track
