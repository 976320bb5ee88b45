"""The studio window: file list, comparison views, A/B player, jobs, export, settings.

Composition only: each part lives in its own module (file list, job controller, views,
player, first-run panel, dialogs); the docks come from :data:`app.panels.PANELS`; all
background work runs on one :class:`~app.tasks.TaskRunner`. Nothing here imports torch or
knows a codec's numbers: rates, levels and codebook sizes come from the loaded codec (or, for
a file's result, the codec that made it). The model loads on the job controller's worker.
"""
from __future__ import annotations

import gc
import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, Qt, QTimer, Signal
from PySide6.QtGui import (QAction, QActionGroup, QCloseEvent, QDragEnterEvent, QDragMoveEvent,
                          QDropEvent, QKeySequence)
from PySide6.QtWidgets import (QDialog, QDockWidget, QFileDialog, QLabel, QMainWindow,
                               QProgressBar, QPushButton, QSplitter, QStackedWidget, QStyle,
                               QTabWidget, QToolBar, QVBoxLayout, QWidget)

from xy_tokenizer import registry
from xy_tokenizer.errors import XYTokenizerError
from xy_tokenizer.io import paths
from xy_tokenizer.io.audio import AUDIO_EXTENSIONS

from .gc_guard import GuiGarbageCollector
from .bench import Bench
from .comparison_model import ORIGINAL_LABEL, ComparisonSet
from .export_dialog import CANCEL, OVERWRITE, ConflictResolver, ExportChoice, ExportDialog, \
    ask_overwrite, existing_outputs
from .file_list import SETTLED, FileListModel, FileListView, FileRow, RowKind, RowStatus, paths_from_mime
from .first_run import DownloadDialog, FirstRunPanel
from .job_controller import SETTINGS_HINT, JobController, ModelSource
from .metrics_queue import MetricsQueue
from .panels import PANELS, PanelSpec
from .player import ABPlayer
from .playback_bar import PlaybackBar
from .preferences import CHECKPOINT_FILTER, PreferencesDialog, model_changed
from .preview import AudioPreview
from .progressive import ProgressiveControl
from .provenance import decoded_by
from .screens import SCREENS
from .source_bar import MAX_KEYS, SourceBar
from .settings import Settings, check_overlap, load_settings, save_settings
from .tasks import LISTEN, SCAN, TaskRunner
from .token_files import ScanBatch, scan_paths
from .views.bench_view import BenchView
from .views.comparison import ComparisonView
from .worker import JobWorker

log = logging.getLogger(__name__)

APP_TITLE = "XY-Tokenizer Studio"
#: closeEvent waits this long for a running job to stop.
CLOSE_JOIN_MS = 2000
PROGRESS_STEPS = 1000
#: Default layout (pixels): window, file list width (dock sizes: app.panels).
DEFAULT_SIZE = (1400, 900)
FILE_LIST_WIDTH = 470
AUDIO_FILTER = "Audio files (" + " ".join(f"*{e}" for e in sorted(AUDIO_EXTENSIONS)) + ");;All files (*)"
TOKEN_FILTER = "Token files (*.npy);;All files (*)"
STUDIO_PAGE, FIRST_RUN_PAGE = 0, 1
#: Tabs of the views: the A/B views of the main model, the stacked views of every codec.
AB_TAB, CODECS_TAB = 0, 1


def _b64(data: QByteArray) -> str:
    return bytes(data.toBase64()).decode("ascii")


def _from_b64(text: str) -> QByteArray:
    return QByteArray.fromBase64(text.encode("ascii"))


class MainWindow(QMainWindow):
    """The studio. Public methods are what menus, drops and tests drive.

    ``resolve_conflicts(existing_paths) -> "overwrite" | "skip" | "cancel"`` decides about
    files an export would replace (a dialog by default; tests pass their own).

    Signals: ``shownChanged(object row)`` -- the file shown in the views changed (a FileRow,
    None for none); ``pathsAdded(list rows)`` -- a scan started by :meth:`add_paths` ended,
    with the rows it added.
    """

    shownChanged = Signal(object)
    pathsAdded = Signal(list)

    def __init__(self, settings: Settings | None = None, *,
                 resolve_conflicts: ConflictResolver | None = None):
        super().__init__()
        self.gc_guard = GuiGarbageCollector(self)    # Python garbage is collected on this thread only
        self.gc_guard.start()
        self.setWindowTitle(APP_TITLE)
        self.setObjectName("mainWindow")
        self.setAcceptDrops(True)
        self.settings = settings if settings is not None else load_settings()
        self.resolve_conflicts = resolve_conflicts or ask_overwrite(self)
        self._shown_uid: int | None = None
        self._shown_result: Any = None
        self._shown_original: tuple[Any, int] | None = None
        self._previous_model: tuple[str, str] | None = None
        self._download_dialog: DownloadDialog | None = None

        self.files = FileListModel(self)
        self.tasks = TaskRunner(self)
        self.jobs = JobController(self.files, self.tasks, self)
        self.preview = AudioPreview(self.tasks, self)
        self.player = ABPlayer(self)
        self.comparison_set = ComparisonSet(self)
        self.bench = Bench(self.files, self.tasks, self.comparison_set, self,
                           device=self.settings.device, dtype=self.settings.dtype)
        self._stimuli_uid: int | None = None
        self._stimuli_key: tuple | None = None
        self._build_actions()
        self._build_central()
        self._build_menus_and_toolbar()
        self._build_status_bar()
        self.metrics_queue = MetricsQueue(self.files, self.tasks, self)
        self.panels: dict[str, QDockWidget] = {}
        self._build_panels()
        self._connect()
        self._restore_layout()
        self.jobs.set_model_source(self._model_source())
        self._update_model_page()
        self._update_actions()

    # construction ------------------------------------------------------------------------
    def _action(self, name: str, text: str, slot, shortcut=None, icon=None, tip: str = "",
                checkable: bool = False) -> QAction:
        action = QAction(text, self)
        action.setObjectName(name)
        if shortcut is not None:
            shortcuts = shortcut if isinstance(shortcut, list) else [shortcut]
            action.setShortcuts([QKeySequence(s) for s in shortcuts])
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if icon is not None:
            action.setIcon(self.style().standardIcon(icon))
        keys = action.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        action.setToolTip(f"{tip or text.rstrip('.…')}" + (f" ({keys})" if keys else ""))
        action.setCheckable(checkable)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        sp = QStyle.StandardPixmap
        a = self._action
        self.act_add_files = a("addFiles", "Add files\u2026", self.choose_files, QKeySequence.StandardKey.Open,
                               sp.SP_FileIcon, "Add audio files")
        self.act_add_folder = a("addFolder", "Add folder\u2026", self.choose_folder, "Ctrl+Shift+O",
                                sp.SP_DirOpenIcon, "Add every audio file in a folder")
        self.act_open_tokens = a("openTokens", "Open token files\u2026", self.choose_token_files, "Ctrl+T",
                                 sp.SP_FileDialogContentsView, "Open .npy token files to decode and hear them")
        self.act_open_checkpoint = a("openCheckpoint", "Open checkpoint\u2026", self.choose_checkpoint)
        self.act_download = a("downloadModel", "Download model\u2026", self.show_download_dialog)
        self.act_export_selected = a("exportSelected", "Export selected\u2026", self.choose_export_selected,
                                     "Ctrl+E", sp.SP_DialogSaveButton, "Export tokens and audio of the selected files")
        self.act_export_all = a("exportAll", "Export all\u2026", self.choose_export_all, "Ctrl+Shift+E")
        self.act_preferences = a("preferences", "Preferences\u2026", self.show_preferences,
                                 [QKeySequence.StandardKey.Preferences, "Ctrl+,"])
        self.act_quit = a("quit", "Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_remove = a("remove", "Remove from list", self.remove_selected, QKeySequence.StandardKey.Delete)
        self.act_clear = a("clear", "Clear list", self.clear_files)
        self.act_reconstruct_selected = a("reconstructSelected", "Reconstruct selected", self.reconstruct_selected,
                                          "Ctrl+R", sp.SP_MediaSeekForward,
                                          "Tokenize and reconstruct the selected files (again)")
        self.act_reconstruct_all = a("reconstructAll", "Reconstruct all", self.reconstruct_all, "Ctrl+Shift+R",
                                     None, "Reconstruct every file not done yet")
        self.act_cancel = a("cancel", "Cancel", self.cancel_jobs, "Esc", sp.SP_BrowserStop,
                            "Stop the running job")
        self.act_play = a("playPause", "Play", self.toggle_play, "Space", sp.SP_MediaPlay, "Play / pause")
        self.act_ab = a("abSwitch", "A/B switch", self.toggle_ab, ["Tab", "B"], None,
                        "Switch between original and reconstruction at the same position")
        self.act_a = a("listenA", "A: original", self._listen_a, None, None,
                       "Listen to the original", checkable=True)
        self.act_b = a("listenB", "B: reconstruction", self._listen_b, None, None,
                       "Listen to the reconstruction", checkable=True)
        group = QActionGroup(self)
        group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        group.addAction(self.act_a)
        group.addAction(self.act_b)
        self.act_a.setChecked(True)
        self.act_loop = a("loop", "Loop", self.set_loop, "L", sp.SP_BrowserReload,
                          "Loop the selected region (shift+drag on a view), or the whole file",
                          checkable=True)
        self.act_level = a("levelMatch", "Loudness match", self.player.set_level_match, "M", None,
                           "Play every source at the original's loudness (ITU-R BS.1770)", checkable=True)
        self.act_sources = [a(f"listen{n}", f"Source {n}", lambda _=False, i=n - 1: self.listen_to(i), str(n),
                              None, f"Listen to source {n} (1: original) from the same position")
                            for n in range(1, MAX_KEYS + 1)]
        self.act_reconstruct_with = a("reconstructWith", "Reconstruct with codecs", self.reconstruct_with_codecs,
                                      "Ctrl+K", None,
                                      "Reconstruct the selected files with every checked codec of the Codecs panel")
        self.act_reconstruct_folder_with = a("reconstructFolderWith", "Reconstruct folder with codecs\u2026",
                                             self.choose_folder_for_codecs, None, None,
                                             "Add a folder and reconstruct its files with every checked codec")
        self.act_rewind = a("rewind", "To start", lambda: self.seek(0.0), "Home", sp.SP_MediaSkipBackward,
                            "Go to the start")

    def _build_central(self) -> None:
        self.file_view = FileListView(self.files)
        self.file_view.set_menu_actions([self.act_reconstruct_selected, None, self.act_export_selected,
                                         None, self.act_remove, self.act_clear])
        self.comparison = ComparisonView()
        self.bench_view = BenchView(self.comparison.timeline)
        self.view_tabs = QTabWidget()
        self.view_tabs.setObjectName("viewTabs")
        self.view_tabs.insertTab(AB_TAB, self.comparison, "Main model")
        self.view_tabs.insertTab(CODECS_TAB, self.bench_view, "Compare codecs")
        self.source_bar = SourceBar(self.listen_to_name)
        self.source_bar.setVisible(False)
        self.playback_bar = PlaybackBar([self.act_rewind, self.act_play, None, self.act_a, self.act_b,
                                         None, self.act_loop, self.act_level])
        self.progressive = ProgressiveControl(self.tasks)
        studio = QWidget()
        studio_layout = QVBoxLayout(studio)
        studio_layout.setContentsMargins(0, 0, 0, 0)
        studio_layout.setSpacing(4)
        studio_layout.addWidget(self.view_tabs, 1)
        studio_layout.addWidget(self.progressive)
        studio_layout.addWidget(self.source_bar)
        studio_layout.addWidget(self.playback_bar)
        self.first_run = FirstRunPanel()
        self.pages = QStackedWidget()
        self.pages.insertWidget(STUDIO_PAGE, studio)
        self.pages.insertWidget(FIRST_RUN_PAGE, self.first_run)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.addWidget(self.file_view)
        self.splitter.addWidget(self.pages)
        # The list keeps its width (all its columns readable); the views take the rest.
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setChildrenCollapsible(False)
        self.setCentralWidget(self.splitter)

    def _build_menus_and_toolbar(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        for action in (self.act_add_files, self.act_add_folder, self.act_open_tokens):
            file_menu.addAction(action)
        self.recent_menu = file_menu.addMenu("Open recent")
        self.recent_menu.aboutToShow.connect(self._fill_recent_menu)
        file_menu.addSeparator()
        file_menu.addAction(self.act_open_checkpoint)
        file_menu.addAction(self.act_download)
        file_menu.addSeparator()
        file_menu.addAction(self.act_export_selected)
        file_menu.addAction(self.act_export_all)
        file_menu.addSeparator()
        file_menu.addAction(self.act_remove)
        file_menu.addAction(self.act_clear)
        file_menu.addSeparator()
        file_menu.addAction(self.act_preferences)
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        process_menu = bar.addMenu("&Process")
        for action in (self.act_reconstruct_selected, self.act_reconstruct_all, self.act_cancel, None,
                       self.act_reconstruct_with, self.act_reconstruct_folder_with):
            process_menu.addSeparator() if action is None else process_menu.addAction(action)
        playback_menu = bar.addMenu("P&layback")
        for action in (self.act_play, self.act_rewind, self.act_ab, self.act_a, self.act_b,
                       self.act_loop, self.act_level):
            playback_menu.addAction(action)
        sources_menu = playback_menu.addMenu("Listen to source")
        for action in self.act_sources:
            sources_menu.addAction(action)
        self._build_tests_menu(bar)
        self.view_menu = bar.addMenu("&View")
        toolbar = QToolBar("Main toolbar")
        toolbar.setObjectName("mainToolbar")
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        toolbar.setMovable(False)
        for action in (self.act_add_files, self.act_add_folder, self.act_open_tokens, None,
                       self.act_reconstruct_selected, self.act_reconstruct_all, self.act_cancel, None,
                       self.act_export_selected):
            toolbar.addSeparator() if action is None else toolbar.addAction(action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        self.toolbar = toolbar
        self.view_menu.addAction(toolbar.toggleViewAction())

    def _build_tests_menu(self, bar) -> None:
        """The "Tests" menu: one entry per screen of :data:`app.screens.SCREENS`."""
        self.tests_menu = bar.addMenu("&Tests")
        self.screen_actions: dict[str, tuple[QAction, Any]] = {}
        for spec in SCREENS:
            action = self._action(spec.id, spec.title, lambda _=False, s=spec: s.open(self),
                                  spec.shortcut or None, None, spec.tip)
            self.tests_menu.addAction(action)
            self.screen_actions[spec.id] = (action, spec)
        self.tests_menu.menuAction().setVisible(bool(SCREENS))

    def _build_status_bar(self) -> None:
        status = self.statusBar()
        self.task_label = QLabel()
        self.overall_progress = QProgressBar()
        self.overall_progress.setRange(0, PROGRESS_STEPS)
        self.overall_progress.setFormat("all files %p%")
        self.overall_progress.setMaximumWidth(180)
        self.file_progress = QProgressBar()
        self.file_progress.setRange(0, PROGRESS_STEPS)
        self.file_progress.setFormat("this file %p%")
        self.file_progress.setMaximumWidth(180)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip(self.act_cancel.toolTip())
        self.cancel_button.clicked.connect(self.cancel_jobs)
        self.model_label = QLabel()
        self.device_label = QLabel()
        self.dtype_label = QLabel()
        for label, tip in ((self.model_label, "Model variant"), (self.device_label, "Device"),
                           (self.dtype_label, "Precision")):
            label.setToolTip(tip)
        status.addWidget(self.task_label, 1)
        for widget in (self.overall_progress, self.file_progress, self.cancel_button):
            status.addPermanentWidget(widget)
            # Hidden while idle but keeping their room: showing them must not resize the
            # views above (a relayout redraws every plot).
            policy = widget.sizePolicy()
            policy.setRetainSizeWhenHidden(True)
            widget.setSizePolicy(policy)
            widget.setVisible(False)
        for widget in (self.model_label, self.device_label, self.dtype_label):
            status.addPermanentWidget(widget)
        self._show_model_labels(None)

    def _connect(self) -> None:
        self.file_view.pathsDropped.connect(self.add_paths)
        self.file_view.currentRowChanged.connect(self._on_current_row)
        self.file_view.selectionModel().selectionChanged.connect(lambda *_: self._update_actions())
        self.file_view.doubleClicked.connect(lambda index: self.toggle_play())
        self.files.dataChanged.connect(self._on_rows_changed)
        self.files.rowsInserted.connect(lambda *_: self._update_actions())
        self.files.rowsRemoved.connect(lambda *_: self._update_actions())
        self.files.modelReset.connect(lambda: self._update_actions())
        self.files.resultChanged.connect(self._on_result_changed)
        self.progressive.reconstructionReady.connect(self._show_reconstruction)
        self.first_run.checkpointChosen.connect(self.use_checkpoint)
        self.jobs.modelLoaded.connect(self._on_model_loaded)
        self.jobs.modelFailed.connect(self._on_model_failed)
        self.jobs.busyChanged.connect(self._on_busy)
        self.jobs.progressChanged.connect(self._on_progress)
        self.jobs.taskStarted.connect(self.task_label.setText)
        self.jobs.taskEnded.connect(self.task_label.setText)
        self.preview.ready.connect(self._on_preview)
        self.preview.failed.connect(lambda uid, message: log.warning("%s", message))
        timeline = self.comparison.timeline
        timeline.seekRequested.connect(self.player.seek)
        timeline.regionChanged.connect(self._on_region)
        timeline.durationChanged.connect(lambda d: self.playback_bar.set_position(timeline.position, d))
        timeline.positionChanged.connect(lambda p: self.playback_bar.set_position(p, timeline.duration))
        self.player.positionChanged.connect(timeline.set_position)
        self.player.stateChanged.connect(self._on_play_state)
        self.player.activeChanged.connect(self._on_active)
        self.player.sourcesChanged.connect(self._on_sources)
        self.comparison_set.changed.connect(self._on_comparison_changed)
        self.bench.busyChanged.connect(lambda _busy: self._update_actions())
        self.bench.slotsChanged.connect(self._update_actions)
        self.bench.slotsChanged.connect(lambda: self.first_run_visible() and self._update_model_page())
        self.player.error.connect(lambda message: log.error("playback: %s", message))
        self.comparison.tokens.hovered.connect(
            lambda level, frame, time, code: self.statusBar().showMessage(
                f"level {level}, frame {frame}, {time:.2f} s: code {code}", 3000))

    # model ------------------------------------------------------------------------------
    def _model_source(self) -> ModelSource:
        checkpoint, config = self.settings.model_source()
        return ModelSource(checkpoint, config, self.settings.device, self.settings.dtype)

    def model_available(self) -> bool:
        """True when a checkpoint is configured and exists, or a default model is installed."""
        checkpoint, _ = self.settings.model_source()
        if checkpoint is not None:
            return checkpoint.exists()  # a file or a model folder
        return paths.find_default_checkpoint() is not None

    def _update_model_page(self, message: str = "") -> None:
        checkpoint, _ = self.settings.model_source()
        if not message and checkpoint is not None and not checkpoint.exists():
            message = (f"The checkpoint in your settings, {checkpoint}, does not exist any more. "
                       "Open another one or download a model.")
        # codecs on the comparison bench are models enough to show the studio
        needs_model = bool(message) or not (self.model_available() or self.bench.slots())
        self.first_run.set_message(message)
        self.pages.setCurrentIndex(FIRST_RUN_PAGE if needs_model else STUDIO_PAGE)

    def first_run_visible(self) -> bool:
        return self.pages.currentIndex() == FIRST_RUN_PAGE

    def preload_model(self) -> None:
        """Load the configured model in the background (called once the window shows)."""
        if self.model_available():
            self.jobs.load_model()

    def use_checkpoint(self, checkpoint: Path, config: Path | None = None) -> None:
        """Load this checkpoint (and optional YAML) on the worker; it is kept in the settings
        once it loaded (a file that fails leaves the previous choice in place)."""
        self._previous_model = (self.settings.checkpoint, self.settings.config)
        self.settings.checkpoint = str(checkpoint)
        self.settings.config = str(config) if config else ""
        self.jobs.set_model_source(self._model_source())
        self.task_label.setText(f"Loading {Path(checkpoint).name}\u2026")
        self.jobs.load_model()

    def _on_model_loaded(self, codec: Any) -> None:
        self._previous_model = None
        self.settings.model_family = codec.family
        self.preview.set_sample_rate(codec.input_sample_rate)
        self.comparison.tokens.set_empty_levels(codec.num_quantizers)
        if self._shown_result is None:
            self.progressive.set_file(None, None, codec)
        for row in self.files.rows():          # token files whose sidecar gave no frame rate
            if row.kind == RowKind.TOKENS and row.frame_rate is None and row.frames is not None:
                self.files.update(row.uid, duration=row.frames / codec.frame_rate)
        try:
            check_overlap(self.settings.overlap, codec)
        except XYTokenizerError as exc:
            log.warning("the window overlap in your settings does not suit %s: %s; %s",
                        codec.variant, exc, SETTINGS_HINT)
        # torch brought hundreds of thousands of long-lived objects; a full collection would
        # walk them all on the GUI thread (100+ ms pauses). They live as long as the app.
        gc.freeze()
        self._show_model_labels(codec)
        self._update_model_page()
        self._save_settings()

    def _on_model_failed(self, message: str) -> None:
        if self._previous_model is not None:
            self.settings.checkpoint, self.settings.config = self._previous_model
            self._previous_model = None
            self.jobs.set_model_source(self._model_source())
        self._show_model_labels(None)
        self._update_model_page(f"The model could not be loaded: {message}")

    def _show_model_labels(self, codec: Any) -> None:
        if codec is None:
            self.model_label.setText("Model: not loaded")
            self.device_label.setText(f"Device: {self.settings.device}")
            self.dtype_label.setText(f"Precision: {self.settings.dtype}")
            return
        self.model_label.setText(f"Model: {codec.variant} ({codec.output_sample_rate // 1000} kHz)")
        self.device_label.setText(f"Device: {codec.device}")
        self.dtype_label.setText(f"Precision: {codec.precision}")

    def choose_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open checkpoint", self.settings.last_dir,
                                              CHECKPOINT_FILTER)
        if path:
            self.use_checkpoint(Path(path))

    def show_download_dialog(self) -> None:
        if self._download_dialog is None:
            self._download_dialog = DownloadDialog(self)
            self._download_dialog.downloaded.connect(lambda path: self.use_checkpoint(path))
        self._download_dialog.show()
        self._download_dialog.raise_()

    def check_overlap(self, seconds: float) -> None:
        """Raise XYTokenizerError when the model refuses this window overlap: the loaded codec
        decides, else the rules of the family of the model last loaded."""
        check_overlap(seconds, self.jobs.codec, self.settings.model_family)

    def show_preferences(self) -> None:
        dialog = PreferencesDialog(self.settings, self, check_overlap=self.check_overlap)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self.apply_settings(dialog.values())

    def apply_settings(self, new: Settings) -> None:
        """Adopt edited settings; the model reloads when its files, device or precision changed."""
        reload = model_changed(self.settings, new)
        self.settings = new
        self._save_settings()
        self.bench.set_device(new.device, new.dtype)
        if reload:
            self.jobs.set_model_source(self._model_source())
            self._show_model_labels(None)
            self._update_model_page()
            self.preload_model()

    # files ------------------------------------------------------------------------------
    def add_paths(self, paths_: list[Path | str]) -> JobWorker:
        """Add audio files, token files and folders (what a drop does).

        The paths are expanded on the ``scan`` lane of the task runner (the GUI thread never
        walks a folder or reads a header); rows appear in batches as they are found, files
        already listed are skipped, and token files are decoded once the scan ends when a model
        is available. ``pathsAdded(rows)`` fires at the end. Returns the scan's worker.
        """
        paths_ = [Path(p) for p in paths_]
        for path in paths_:
            self.settings.add_recent(path.resolve())
        codec = self.jobs.codec
        frame_rate = codec.frame_rate if codec is not None else self._default_frame_rate()
        added: list[FileRow] = []

        def scan(report_progress, is_cancelled):
            return scan_paths(paths_, frame_rate=frame_rate, is_cancelled=is_cancelled, report=report_progress)

        worker = JobWorker(scan, name="scan", parent=self)
        worker.event.connect(lambda batch: self._add_batch(batch, added))
        worker.error.connect(lambda message: log.error("adding files failed: %s", message))
        worker.finished.connect(lambda: self._on_scan_finished(paths_, added))
        self.tasks.submit(worker, SCAN)
        return worker

    @staticmethod
    def _default_frame_rate() -> float | None:
        """Frames per second assumed for token files without a sidecar before a model loads:
        the registry's first variant's (the durations are updated when a model loads)."""
        variants = registry.variants()
        return variants[0].frame_rate if variants else None

    def _add_batch(self, batch: ScanBatch, added: list[FileRow]) -> None:
        """List the new rows of one scan batch (skipping files already listed)."""
        for problem in batch.problems:
            log.warning("%s", problem)
        fresh, repeated = [], 0
        for row in batch.rows:
            if self.files.is_listed(row):
                repeated += 1
            else:
                fresh.append(row)
        if repeated:
            log.info("%d file(s) already in the list were not added again", repeated)
        if not fresh:
            return
        first = not added
        self.files.add_rows(fresh)
        added.extend(fresh)
        if first and self.file_view.current_position() < 0:
            self.file_view.select_position(self.files.position_of(fresh[0].uid))

    def _on_scan_finished(self, paths_: list[Path], added: list[FileRow]) -> None:
        if added:
            self.settings.last_dir = str(paths_[-1].resolve().parent)
            log.info("added %d file(s)", len(added))
        tokens = [row.uid for row in added if row.kind == RowKind.TOKENS and row.status != RowStatus.FAILED
                  and self.files.by_uid(row.uid) is not None]
        if tokens and self.model_available():
            self.jobs.process(tokens, overlap=self.settings.overlap, batch_size=self.settings.batch_size)
        self.pathsAdded.emit(list(added))

    def choose_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Add audio files", self.settings.last_dir, AUDIO_FILTER)
        if names:
            self.add_paths([Path(n) for n in names])

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a folder", self.settings.last_dir)
        if folder:
            self.add_paths([Path(folder)])

    def choose_token_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(self, "Open token files", self.settings.last_dir, TOKEN_FILTER)
        if names:
            self.add_paths([Path(n) for n in names])

    def _fill_recent_menu(self) -> None:
        self.recent_menu.clear()
        for text in self.settings.recent_files:
            action = self.recent_menu.addAction(text)
            action.triggered.connect(lambda _checked=False, t=text: self.add_paths([Path(t)]))
        self.recent_menu.setEnabled(bool(self.settings.recent_files))

    def remove_selected(self) -> None:
        removed = self.files.remove_positions(self.file_view.selected_positions())
        for row in removed:
            self.progressive.forget(row.uid)
            self.comparison_set.remove_file(row.uid)
        if any(row.uid == self._shown_uid for row in removed):
            self._show_row(None)

    def clear_files(self) -> None:
        for row in self.files.rows():
            self.progressive.forget(row.uid)
        self.files.clear()
        self.comparison_set.clear()
        self._show_row(None)

    # processing -------------------------------------------------------------------------
    def _uids(self, positions: list[int]) -> list[int]:
        return [self.files.row(p).uid for p in positions]

    def reconstruct(self, uids: list[int]) -> int:
        """Queue these files (audio: reconstruct, tokens: decode); returns how many were queued."""
        if not self.model_available() and self.jobs.codec is None:
            self._update_model_page("Choose a model first: open a checkpoint or download one.")
            return 0
        return self.jobs.process(uids, overlap=self.settings.overlap, batch_size=self.settings.batch_size)

    def reconstruct_selected(self) -> int:
        return self.reconstruct(self._uids(self.file_view.selected_positions()))

    def reconstruct_all(self) -> int:
        """Every file without a result (new, failed or cancelled)."""
        return self.reconstruct([row.uid for row in self.files.rows() if not row.has_result])

    def cancel_jobs(self) -> None:
        if self.jobs.is_busy():
            self.task_label.setText("Cancelling\u2026")
            self.jobs.cancel()
        if self.bench.is_busy():
            self.bench.cancel()

    def reconstruct_with_codecs(self, uids: list[int] | None = None, labels: list[str] | None = None) -> int:
        """Reconstruct ``uids`` (default: the selected files) with each codec of ``labels``
        (default: the codecs checked in the Codecs panel, else all); returns the (file, codec) pairs queued."""
        if uids is None:
            uids = self._uids(self.file_view.selected_positions())
        if labels is None:
            panel = getattr(self, "codecs_panel", None)
            labels = panel.checked_labels() if panel is not None else self.bench.labels()
        queued = self.bench.reconstruct(uids, labels)
        if queued:
            self.view_tabs.setCurrentIndex(CODECS_TAB)
        return queued

    def choose_folder_for_codecs(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Reconstruct a folder with codecs", self.settings.last_dir)
        if folder:
            self.reconstruct_folder_with_codecs(Path(folder))

    def reconstruct_folder_with_codecs(self, folder: Path, labels: list[str] | None = None) -> JobWorker:
        """Add ``folder``'s audio files and, once listed, reconstruct them with the codecs."""
        def run(rows: list) -> None:
            self.pathsAdded.disconnect(run)
            wanted = {r.uid for r in rows} | {r.uid for r in self.files.rows() if r.path.is_relative_to(folder)}
            self.reconstruct_with_codecs(sorted(wanted), labels)
        self.pathsAdded.connect(run)
        return self.add_paths([folder])

    def current_row(self) -> FileRow | None:
        """The file shown in the views (None: none)."""
        return None if self._shown_uid is None else self.files.by_uid(self._shown_uid)

    def selected_rows(self) -> list[FileRow]:
        return [self.files.row(p) for p in self.file_view.selected_positions()]

    def _on_busy(self, busy: bool) -> None:
        for widget in (self.overall_progress, self.file_progress, self.cancel_button):
            widget.setVisible(busy)
        if not busy:
            self.overall_progress.setValue(0)
            self.file_progress.setValue(0)
        self._update_actions()

    def _on_progress(self, overall: float, current: float) -> None:
        """Fractions 0..1; ``overall`` < 0: busy without a measure (model loading)."""
        self.overall_progress.setRange(0, 0 if overall < 0 else PROGRESS_STEPS)
        if overall >= 0:
            self.overall_progress.setValue(int(round(overall * PROGRESS_STEPS)))
        self.file_progress.setVisible(current >= 0 and self.jobs.is_busy())
        if current >= 0:
            self.file_progress.setValue(int(round(current * PROGRESS_STEPS)))

    def _update_actions(self) -> None:
        selected = bool(self.file_view.selected_positions())
        rows = self.files.rows()
        self.act_reconstruct_selected.setEnabled(selected)
        self.act_reconstruct_all.setEnabled(any(not r.has_result for r in rows))
        self.act_cancel.setEnabled(self.jobs.is_busy())
        self.act_remove.setEnabled(selected)
        self.act_clear.setEnabled(bool(rows))
        self.act_export_selected.setEnabled(any(self.files.row(p).has_result
                                                for p in self.file_view.selected_positions()))
        self.act_export_all.setEnabled(any(r.has_result for r in rows))
        self.act_reconstruct_with.setEnabled(selected and bool(self.bench.slots()))
        self.act_reconstruct_folder_with.setEnabled(bool(self.bench.slots()))
        self.act_cancel.setEnabled(self.jobs.is_busy() or self.bench.is_busy())
        entry = self.comparison_set.entry(self._shown_uid) if self._shown_uid is not None else None
        ready = entry is not None and entry.ready()
        for action, spec in self.screen_actions.values():
            action.setEnabled(ready or not spec.needs_comparison)

    def _on_result_changed(self, uid: int) -> None:
        """Log which model made the new result (and a cross-variant decode)."""
        row = self.files.by_uid(uid)
        if row is not None and row.has_result:
            log.info("%s: %s", row.path.name, decoded_by(row.codec, row.result))

    def _on_rows_changed(self, top_left, _bottom_right, _roles=None) -> None:
        row = self.files.row(top_left.row())
        if row.uid == self._shown_uid and row.has_result and self._shown_result is not row.result:
            self._show_row(row)
        if row.status in SETTLED:
            self._update_actions()

    # export -----------------------------------------------------------------------------
    def _export_groups(self, positions: list[int]) -> list[tuple[Any, list]]:
        groups: dict[int, tuple[Any, list]] = {}
        for position in positions:
            row = self.files.row(position)
            if row.has_result:
                groups.setdefault(id(row.codec), (row.codec, []))[1].append(row.result)
        return list(groups.values())

    def export(self, positions: list[int], choice: ExportChoice) -> bool:
        """Export the results of the files at ``positions``; asks (``resolve_conflicts``) when
        files exist. Returns False when there was nothing to export or the user cancelled."""
        groups = self._export_groups(positions)
        if not groups:
            log.warning("nothing to export: reconstruct the files first")
            return False
        results = [result for _codec, group in groups for result in group]
        existing = existing_outputs(results, choice.out_dir, tokens=choice.tokens, audio=choice.audio)
        overwrite = False
        if existing:
            answer = self.resolve_conflicts(existing)
            if answer == CANCEL:
                log.info("export cancelled: %d file(s) exist in %s", len(existing), choice.out_dir)
                return False
            overwrite = answer == OVERWRITE
        self.settings.output_dir = str(choice.out_dir)
        self.jobs.export(groups, choice, overwrite=overwrite)
        return True

    def _choose_export(self, positions: list[int]) -> None:
        positions = [p for p in positions if self.files.row(p).has_result]
        if not positions:
            return
        dialog = ExportDialog(len(positions), self.settings.output_dir, self)
        if dialog.exec() == QDialog.DialogCode.Accepted:
            self.export(positions, dialog.choice())

    def choose_export_selected(self) -> None:
        self._choose_export(self.file_view.selected_positions())

    def choose_export_all(self) -> None:
        self._choose_export(list(range(self.files.rowCount())))

    # views and playback -----------------------------------------------------------------
    def _on_current_row(self, position: int) -> None:
        self._show_row(self.files.row(position) if position >= 0 else None)

    def _show_row(self, row: FileRow | None) -> None:
        """Show ``row`` in the views and give its audio to the player (None: empty)."""
        self.player.stop()
        self.comparison.clear()
        self.bench_view.clear()
        self._shown_uid = None if row is None else row.uid
        self._stimuli_uid = None
        self._stimuli_key = None
        self._shown_result = None
        self._shown_original = None
        result = row.result if row is not None and row.has_result else None
        if result is None:
            self.progressive.set_file(None, None, self.jobs.codec)
        if row is None:
            self.player.set_sources(original=None, reconstruction=None)
            self.setWindowTitle(APP_TITLE)
            self.shownChanged.emit(None)
            return
        self.setWindowTitle(f"{row.path.name} \u2014 {APP_TITLE}")
        if result is None:
            self.player.set_sources(original=None, reconstruction=None)
            self.shownChanged.emit(row)
            entry = self.comparison_set.entry(row.uid)
            if entry is not None and entry.ready():
                self._refresh_comparison()
            elif row.kind == RowKind.AUDIO and row.status != RowStatus.FAILED:
                self.preview.request(row.uid, row.path)
            return
        self._shown_result = result
        codec = row.codec
        rate = codec.output_sample_rate
        original = None
        if result.original is not None:
            original = (result.original, codec.input_sample_rate)
            self.comparison.set_original(result.original, codec.input_sample_rate)
        self._shown_original = original
        self.progressive.set_file(row.uid, result, codec)
        self.comparison.set_reconstruction(result.audio, rate, self.progressive.label())
        self.comparison.set_codes(result.codes, codec.frame_rate, codec.codebook_size)
        self.shownChanged.emit(row)
        self.player.set_sources(original=original, reconstruction=(result.audio, rate))
        if original is None:
            self.set_active("B")
        self._apply_loop()
        self._refresh_comparison()

    def _show_reconstruction(self, samples: Any, rate: int, label: str) -> None:
        """Show and play ``samples`` (N,) at ``rate`` Hz as the reconstruction (progressive levels)."""
        self.comparison.set_reconstruction(samples, rate, label)
        self.player.set_sources(original=self._shown_original, reconstruction=(samples, rate))

    # comparison bench ---------------------------------------------------------------------
    def _on_comparison_changed(self, uid: int) -> None:
        if uid == self._shown_uid:
            self._refresh_comparison()
        self._update_actions()

    def _refresh_comparison(self) -> None:
        """Prepare the shown file's stimuli (original + every finished codec: one rate, codec
        delay removed) on the listen lane; then the player, source bar and codec views take them."""
        uid = self._shown_uid
        entry = None if uid is None else self.comparison_set.entry(uid)
        self.bench_view.set_entry(entry)
        if entry is None or not entry.ready():
            return
        finished = entry.finished()
        key = (uid, id(entry.original[0]), tuple((label, id(r.audio)) for label, r in finished.items()))
        if key == self._stimuli_key:
            return                                # a status changed, not what is heard
        self._stimuli_key = key

        def prepare(report_progress, is_cancelled):
            return entry.stimuli(loudness_match=False)

        worker = JobWorker(prepare, name="stimuli")
        worker.result.connect(lambda stimuli, u=uid, r=finished: self._on_stimuli(u, r, stimuli))
        worker.error.connect(lambda message: log.error("listening: %s", message))
        self.tasks.submit(worker, LISTEN, key="stimuli", cancel_running=True)

    def _on_stimuli(self, uid: int, finished: dict, stimuli: dict) -> None:
        if uid != self._shown_uid:
            return
        from xy_tokenizer.analysis.listening import REFERENCE

        reference = stimuli[REFERENCE]
        others = {label: (s.audio, s.rate) for label, s in stimuli.items() if label in finished}
        row = self.files.by_uid(uid)
        main = (self._shown_result.audio, row.codec.output_sample_rate) \
            if self._shown_result is not None and row is not None and row.codec is not None else None
        self._stimuli_uid = uid
        self.player.set_sources(original=(reference.audio, reference.rate), reconstruction=main, others=others)
        self.bench_view.set_stimuli(stimuli, {label: r.codec for label, r in finished.items()},
                                    {label: r for label, r in finished.items()})
        self._apply_loop()

    def source_titles(self) -> dict[str, str]:
        """What the source bar calls each player source."""
        titles = {"A": ORIGINAL_LABEL, "B": self.progressive.label() if self._shown_result is not None
                  else "Reconstruction"}
        row = self.current_row()
        if row is not None and row.codec is not None and self._shown_result is not None:
            titles["B"] = f"{row.codec.variant} (main)"
        return titles

    def listen_to(self, index: int) -> bool:
        """Key ``index + 1``: play the index-th source (0: original) from the same position."""
        return self.player.set_active_index(index)

    def listen_to_name(self, name: str) -> None:
        self.player.set_active(name)

    def _on_sources(self, names: list) -> None:
        self.source_bar.set_sources(list(names), self.source_titles())
        self.source_bar.setVisible(len(names) > 2 or any(n not in ("A", "B") for n in names))
        self.source_bar.set_active(self.player.active())

    def _on_preview(self, uid: int, samples: Any, rate: int) -> None:
        row = self.files.by_uid(uid)
        if row is None or uid != self._shown_uid or row.has_result or self._stimuli_uid == uid:
            return
        self.comparison.set_original(samples, rate)
        self.player.set_sources(original=(samples, rate), reconstruction=None)
        self.set_active("A")

    def toggle_play(self) -> None:
        self.player.toggle_play()

    def toggle_ab(self) -> None:
        self.player.toggle_ab()

    def set_active(self, which: str) -> None:
        self.player.set_active(which)

    def _listen_a(self, on: bool) -> None:
        if on:
            self.set_active("A")
        else:                                     # clicking the checked one keeps it checked
            self._on_active(self.player.active())

    def _listen_b(self, on: bool) -> None:
        if on:
            self.set_active("B")
        else:
            self._on_active(self.player.active())

    def seek(self, seconds: float) -> None:
        self.comparison.timeline.request_seek(seconds)

    def set_loop(self, on: bool) -> None:
        self._apply_loop()

    def _apply_loop(self) -> None:
        if not self.act_loop.isChecked():
            self.player.set_loop(None)
            return
        duration = self.player.duration()
        self.player.set_loop(self.comparison.timeline.region or ((0.0, duration) if duration > 0 else None))

    def _on_region(self, _region) -> None:
        if self.act_loop.isChecked():
            self._apply_loop()

    def _on_play_state(self, playing: bool) -> None:
        icon = QStyle.StandardPixmap.SP_MediaPause if playing else QStyle.StandardPixmap.SP_MediaPlay
        self.act_play.setIcon(self.style().standardIcon(icon))
        self.act_play.setText("Pause" if playing else "Play")

    def _on_active(self, which: str) -> None:
        for action, name in ((self.act_a, "A"), (self.act_b, "B")):
            action.blockSignals(True)             # a codec's source checks neither A nor B
            action.setChecked(which == name)
            action.blockSignals(False)
        self.source_bar.set_active(which)

    # drops ------------------------------------------------------------------------------
    def dragEnterEvent(self, event: QDragEnterEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dragMoveEvent(self, event: QDragMoveEvent) -> None:
        if paths_from_mime(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:
        dropped = paths_from_mime(event.mimeData())
        if dropped:
            event.acceptProposedAction()
            self.add_paths(dropped)

    # docks, layout, settings ------------------------------------------------------------
    def _build_panels(self) -> None:
        """Every dock of :data:`app.panels.PANELS`, in order (tabbed where asked)."""
        for spec in PANELS:
            dock = spec.factory(self)
            dock.setObjectName(spec.id)
            dock.setWindowTitle(spec.title)
            self.add_dock(dock, spec.area)
            if spec.tab_with:
                self.tabifyDockWidget(self.panels[spec.tab_with], dock)
                self.panels[spec.tab_with].raise_()
            self.panels[spec.id] = dock
            if spec.attr:
                setattr(self, spec.attr, dock)

    def add_dock(self, dock: QDockWidget, area=Qt.DockWidgetArea.RightDockWidgetArea) -> None:
        """Add a dock (with an entry in the View menu); give it an objectName to be restored."""
        self.addDockWidget(area, dock)
        self.view_menu.addAction(dock.toggleViewAction())

    def _default_dock_layout(self, specs: tuple[PanelSpec, ...]) -> None:
        """Docks at their default sizes; those that need room start closed on small screens."""
        room = self.screen().availableGeometry().width() >= DEFAULT_SIZE[0]
        vertical = (Qt.DockWidgetArea.TopDockWidgetArea, Qt.DockWidgetArea.BottomDockWidgetArea)
        for spec in specs:
            dock = self.panels[spec.id]
            if spec.needs_room:
                dock.setVisible(room)
            if spec.size and not spec.tab_with:
                orientation = Qt.Orientation.Vertical if spec.area in vertical else Qt.Orientation.Horizontal
                self.resizeDocks([dock], [spec.size], orientation)

    def _restore_layout(self) -> None:
        """The saved layout, or the default one: file list a third wide, a short log dock."""
        if self.settings.geometry:
            self.restoreGeometry(_from_b64(self.settings.geometry))
        else:
            self.resize(*DEFAULT_SIZE)
        if not (self.settings.splitter_state
                and self.splitter.restoreState(_from_b64(self.settings.splitter_state))):
            # Sizes given before the first layout are scaled to the splitter's provisional
            # width; give them once the docks have taken their room.
            QTimer.singleShot(0, self._default_split)
        if not (self.settings.window_state and self.restoreState(_from_b64(self.settings.window_state))):
            self._default_dock_layout(PANELS)

    def _default_split(self) -> None:
        """File list FILE_LIST_WIDTH wide (all its columns readable), the views the rest."""
        total = self.splitter.width()
        self.splitter.setSizes([min(FILE_LIST_WIDTH, total // 2), max(1, total - FILE_LIST_WIDTH)])

    def _save_settings(self) -> None:
        self.settings.geometry = _b64(self.saveGeometry())
        self.settings.window_state = _b64(self.saveState())
        self.settings.splitter_state = _b64(self.splitter.saveState())
        try:
            save_settings(self.settings)
        except OSError as exc:
            log.error("could not save the settings: %s", exc)

    def _track_downloads(self) -> None:
        """Downloads run on the first-run panel's own workers: count them as live work."""
        boxes = [self.first_run.download] + ([self._download_dialog.box] if self._download_dialog else [])
        for box in boxes:
            worker = getattr(box, "worker", None)
            if isinstance(worker, JobWorker):
                self.tasks.track(worker)

    def live_workers(self) -> list[JobWorker]:
        """Every background worker of the window that runs now."""
        self._track_downloads()
        return self.tasks.live()

    def closeEvent(self, event: QCloseEvent) -> None:
        """Cancel all background work at once, save the settings, stop playback, then join the
        workers (CLOSE_JOIN_MS in all, counted from the start of the close)."""
        deadline = time.monotonic() + CLOSE_JOIN_MS / 1000
        self._track_downloads()
        self.tasks.cancel_all()
        self._save_settings()
        self.player.stop()
        self.tasks.shutdown(CLOSE_JOIN_MS, deadline)
        self.bench.shutdown()
        for dock in self.panels.values():
            shutdown = getattr(dock, "shutdown", None)
            if callable(shutdown):
                shutdown()
        self.gc_guard.stop()
        super().closeEvent(event)
