use super::*;

const GAMMU: (u32, &str) = (102, "gammu");
const GAMMU_GROUP: (u32, &str) = (105, "gammu");
const DIALOUT: (u32, &str) = (20, "dialout");

/// A Debian gammu-smsd as its package leaves it, filled in.
const SMSDRC: &str = "[gammu]\nport = /dev/ttyUSB0\nconnection = at\n\n[smsd]\nservice = files\n\
logfile = syslog\ndebuglevel = 0\n\ninboxpath = /var/spool/gammu/inbox/\n\
outboxpath = /var/spool/gammu/outbox/\nsentsmspath = /var/spool/gammu/sent/\n\
errorsmspath = /var/spool/gammu/error/\n";

fn dir(uid: u32, gid: u32, mode: u32) -> Stat {
    Stat {
        uid,
        gid,
        mode,
        is_dir: true,
    }
}

fn file(uid: u32, gid: u32, mode: u32) -> Stat {
    Stat {
        uid,
        gid,
        mode,
        is_dir: false,
    }
}

fn debian(config: &str) -> Survey {
    let loaded = crate::config::parse_gammu(config, Path::new("/")).unwrap();
    let spool = |role: &'static str| SpoolDir {
        role,
        path: PathBuf::from(format!("/var/spool/gammu/{role}")),
        stat: Ok(dir(GAMMU.0, GAMMU_GROUP.0, 0o770)),
    };
    Survey {
        config_path: PathBuf::from("/etc/gammu-smsdrc"),
        config: Ok(loaded),
        config_stat: Some(file(0, 0, 0o644)),
        dirs: vec![
            spool("inbox"),
            spool("outbox"),
            spool("sent"),
            spool("error"),
        ],
        queued: vec![
            Queued {
                name: "OUTC20261203_120000_00_+4917600000001_sms0.smsbackup".into(),
                stat: file(0, 0, 0o644),
            },
            Queued {
                name: "OUT+4917600000002.txt".into(),
                stat: file(1000, 105, 0o640),
            },
        ],
        inbox_files: 3,
        log_file: None,
        device: Some(Device {
            path: PathBuf::from("/dev/ttyUSB0"),
            resolved: None,
            stat: Some(file(0, DIALOUT.0, 0o660)),
            drivers: vec!["ttyUSB".into()],
            holders: vec![],
        }),
        hooks: vec![],
        gammu_running: vec![],
        modem_manager: None,
        units: Units {
            root: PathBuf::from("/"),
            online: true,
            gammu_unit: Some(PathBuf::from("/lib/systemd/system/gammu-smsd.service")),
            gammu_user: "root".into(),
            gammu_umask: None,
            gammu_enabled: true,
            gammu_active: true,
            simgate_unit: Some(PathBuf::from("/lib/systemd/system/simgate.service")),
            dropin: PathBuf::from(
                "/etc/systemd/system/simgate.service.d/50-migrate-from-gammu.conf",
            ),
            dropin_exists: false,
            record: PathBuf::from("/etc/systemd/system/simgate.service.d/migrate-from-gammu.undo"),
            record_exists: false,
        },
        account: Ok(Account {
            name: GAMMU.1.into(),
            uid: GAMMU.0,
            gid: GAMMU_GROUP.0,
            groups: vec![
                (GAMMU_GROUP.0, GAMMU_GROUP.1.into()),
                (DIALOUT.0, DIALOUT.1.into()),
            ],
        }),
        account_chosen: false,
        group_names: vec![
            (0, "root".into()),
            (GAMMU_GROUP.0, GAMMU_GROUP.1.into()),
            (DIALOUT.0, DIALOUT.1.into()),
        ],
        user_names: vec![(0, "root".into()), (GAMMU.0, GAMMU.1.into())],
        simgate: PathBuf::from("/usr/bin/simgate"),
    }
}

fn levels(plan: &Plan, level: Level) -> Vec<&str> {
    plan.findings
        .iter()
        .filter(|f| f.level == level)
        .map(|f| f.text.as_str())
        .collect()
}

#[test]
fn debians_gammu_smsd_becomes_simgate_as_gammu() {
    let survey = debian(SMSDRC);
    let plan = super::plan(&survey);
    assert_eq!(levels(&plan, Level::Problem), Vec::<&str>::new());
    assert_eq!(levels(&plan, Level::Warning), Vec::<&str>::new());
    assert!(plan.complete);
    assert_eq!(
        (plan.user.as_str(), plan.group.as_str()),
        ("gammu", "gammu")
    );
    assert!(plan.supplementary.is_empty(), "gammu is in dialout already");
    assert_eq!(
        plan.steps,
        vec![
            Step::Stop(GAMMU_UNIT),
            Step::Disable(GAMMU_UNIT),
            Step::WriteDropin,
            Step::DaemonReload,
            Step::Enable(SIMGATE_UNIT),
            Step::Restart(SIMGATE_UNIT),
        ]
    );
    let dropin = &plan.dropin;
    for line in [
        "[Service]\nExecStart=\nExecStart=/usr/bin/simgate run --config /etc/gammu-smsdrc\n",
        "User=gammu\nGroup=gammu\nSupplementaryGroups=\n",
        "UMask=0022\n",
        "ReadWritePaths=/var/spool/gammu/inbox\n",
        "ReadWritePaths=/var/spool/gammu/error\n",
    ] {
        assert!(dropin.contains(line), "no {line:?} in\n{dropin}");
    }
    assert!(!dropin.contains("DeviceAllow"), "{dropin}");
    assert!(
        !dropin.contains("ProtectSystem=full"),
        "no hooks, no opening: {dropin}"
    );
    let all: String = plan
        .findings
        .iter()
        .map(|f| format!("{}\n", f.text))
        .collect();
    assert!(
        all.contains("2 message file(s) waiting: simgate sends each once"),
        "{all}"
    );
    assert!(
        all.contains("3 file(s) gammu-smsd wrote: left as they are"),
        "{all}"
    );
    assert!(
        all.contains("gammu-smsd ran as root; simgate runs as gammu"),
        "{all}"
    );
    assert!(all.contains("gammu:gammu 0770"), "{all}");

    let report = render(&survey, &plan, false);
    assert!(
        report.contains("  1. systemctl stop gammu-smsd.service\n"),
        "{report}"
    );
    assert!(report.contains("  3. write /etc/systemd/system/simgate.service.d/50-migrate-from-gammu.conf:\n       | # Written by"), "{report}");
    assert!(report.contains("Nothing was changed."), "{report}");
    assert!(!report.contains("systemd does not run here"), "{report}");
}

#[test]
fn without_systemd_only_files_change_and_the_report_says_how_to_start() {
    let mut survey = debian(SMSDRC);
    survey.units.online = false;
    survey.units.gammu_active = false;
    survey.units.root = PathBuf::from("/srv/image");
    let plan = super::plan(&survey);
    assert_eq!(
        plan.steps,
        vec![
            Step::Disable(GAMMU_UNIT),
            Step::WriteDropin,
            Step::Enable(SIMGATE_UNIT)
        ]
    );
    assert_eq!(
        step_command(&plan.steps[0], &survey.units.root),
        Some(vec![
            "systemctl".to_owned(),
            "--root=/srv/image".to_owned(),
            "disable".to_owned(),
            "gammu-smsd.service".to_owned()
        ])
    );
    let report = render(&survey, &plan, false);
    assert!(report.contains("runuser -u gammu -g gammu -- env STATE_DIRECTORY=/srv/image/var/lib/simgate /usr/bin/simgate run --config /etc/gammu-smsdrc"), "{report}");
    assert!(report.contains("umask 0022 && "), "{report}");
    assert!(
        report.contains("--apply --root /srv/image /etc/gammu-smsdrc"),
        "{report}"
    );
}

#[test]
fn missing_groups_are_added_and_missing_rights_reported() {
    let mut survey = debian(SMSDRC);
    // An account in neither the spool's group nor dialout.
    survey.account = Ok(Account {
        name: "sms".into(),
        uid: 1001,
        gid: 1001,
        groups: vec![(1001, "sms".into())],
    });
    survey.account_chosen = true;
    let plan = super::plan(&survey);
    assert_eq!(plan.supplementary, vec!["dialout", "gammu"]);
    assert!(plan
        .dropin
        .contains("SupplementaryGroups=\nSupplementaryGroups=dialout gammu\n"));
    // The outbox file only its owner (1000) and group gammu can read.
    assert_eq!(levels(&plan, Level::Warning), Vec::<&str>::new());

    let mut survey = debian(SMSDRC);
    survey.queued[1].stat = file(1000, 1000, 0o600);
    survey.dirs[3].stat = Ok(dir(0, 0, 0o700));
    let plan = super::plan(&survey);
    let problems = levels(&plan, Level::Problem);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("error /var/spool/gammu/error (root:root 0700): gammu could not read, write and search it"), "{problems:?}");
    let warnings = levels(&plan, Level::Warning);
    assert!(
        warnings
            .iter()
            .any(|w| w.starts_with("1 waiting file(s) gammu cannot read (OUT+4917600000002.txt)")),
        "{warnings:?}"
    );
}

#[test]
fn what_stops_apply() {
    let mut survey = debian(SMSDRC);
    survey.dirs[1].stat = Err("No such file or directory (os error 2)".into());
    survey.units.simgate_unit = None;
    survey.units.record_exists = true;
    survey.units.gammu_active = false;
    survey.gammu_running = vec![Process {
        pid: 4242,
        command: "gammu-smsd".into(),
    }];
    let plan = super::plan(&survey);
    let problems = levels(&plan, Level::Problem);
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].starts_with("outbox /var/spool/gammu/outbox: No such file"));
    assert!(
        problems[1].contains("gammu-smsd (pid 4242)"),
        "{problems:?}"
    );
    assert!(
        problems[2].contains("install the simgate package"),
        "{problems:?}"
    );
    assert!(problems[3].contains("--undo` first"), "{problems:?}");
    assert_eq!(plan.problems(), 4);

    let mut survey = debian(SMSDRC);
    survey.config = Err("cannot read the configuration /etc/gammu-smsdrc: gone".into());
    let plan = super::plan(&survey);
    assert!(!plan.complete);
    assert!(render(&survey, &plan, false).contains("run this again to see the steps"));

    let mut survey = debian(SMSDRC);
    survey.config = Ok(crate::config::parse_toml("[modem]\ndevice = \"/dev/ttyUSB0\"\n").unwrap());
    let plan = super::plan(&survey);
    assert!(levels(&plan, Level::Problem)[0].contains("simgate's own TOML"));
}

#[test]
fn hooks_keep_their_command_and_get_the_sandbox_opened() {
    let config = format!("{SMSDRC}RunOnReceive = /usr/local/bin/sms-in --queue in\n");
    let mut survey = debian(&config);
    survey.hooks = vec![Hook {
        key: "RunOnReceive",
        command: "/usr/local/bin/sms-in --queue in".into(),
        program: Some(PathBuf::from("/usr/local/bin/sms-in")),
        stat: Some(file(0, 0, 0o750)),
    }];
    let plan = super::plan(&survey);
    let warnings = levels(&plan, Level::Warning);
    assert!(
        warnings[0].contains("gammu cannot run /usr/local/bin/sms-in (root:root 0750)"),
        "{warnings:?}"
    );
    for line in [
        "ProtectSystem=full\n",
        "PrivateNetwork=no\n",
        "RestrictAddressFamilies=\n",
        "SystemCallFilter=\n",
        "CapabilityBoundingSet=~\n",
        "NoNewPrivileges=no\n",
    ] {
        assert!(
            plan.dropin.contains(line),
            "no {line:?} in\n{}",
            plan.dropin
        );
    }
    survey.hooks[0].stat = Some(file(0, 0, 0o755));
    let plan = super::plan(&survey);
    assert!(levels(&plan, Level::Warning).is_empty());
}

#[test]
fn a_modem_outside_the_usual_drivers_is_allowed_and_holders_named() {
    let mut survey = debian(SMSDRC);
    let device = survey.device.as_mut().unwrap();
    device.drivers = vec!["rfcomm".into()];
    device.holders = vec![
        Process {
            pid: 812,
            command: "gammu-smsd".into(),
        },
        Process {
            pid: 900,
            command: "ModemManager".into(),
        },
    ];
    survey.modem_manager = Some(Process {
        pid: 900,
        command: "ModemManager".into(),
    });
    let plan = super::plan(&survey);
    assert!(
        plan.dropin.contains("DeviceAllow=char-rfcomm rw\n"),
        "{}",
        plan.dropin
    );
    let warnings = levels(&plan, Level::Warning);
    assert_eq!(warnings.len(), 2, "{warnings:?}");
    assert!(warnings[0].contains("ModemManager (pid 900)"));
    assert!(warnings[1].contains("77-simgate-modemmanager-ignore.rules"));
    assert!(levels(&plan, Level::Note)
        .iter()
        .any(|n| n.contains("gammu-smsd (pid 812), which the steps stop")));
}

#[test]
fn an_unplugged_modem_still_gets_dialout() {
    let mut survey = debian(SMSDRC);
    survey.account = Ok(Account {
        name: "gammu".into(),
        uid: GAMMU.0,
        gid: GAMMU_GROUP.0,
        groups: vec![(GAMMU_GROUP.0, "gammu".into())],
    });
    survey.device.as_mut().unwrap().stat = None;
    let plan = super::plan(&survey);
    assert_eq!(plan.supplementary, vec!["dialout"]);
    assert!(levels(&plan, Level::Warning)[0].contains("not there now"));
}

#[test]
fn unit_words_are_quoted_for_systemd_and_shell_words_for_sh() {
    assert_eq!(unit_word("/etc/gammu-smsdrc"), "/etc/gammu-smsdrc");
    assert_eq!(unit_word("/srv/my sms/smsdrc"), "\"/srv/my sms/smsdrc\"");
    assert_eq!(unit_word("/srv/100%/x"), "/srv/100%%/x");
    assert_eq!(unit_word("/srv/$HOME"), "/srv/$$HOME");
    assert_eq!(unit_word("a\"b"), "\"a\\\"b\"");
    assert_eq!(shell_word("/etc/gammu-smsdrc"), "/etc/gammu-smsdrc");
    assert_eq!(shell_word("it's"), "'it'\\''s'");
    assert_eq!(shell_word(""), "''");
}

#[test]
fn gammus_unit_tells_its_user_and_umask() {
    let debian = "[Service]\nEnvironmentFile=-/etc/default/gammu-smsd\n# Run daemon as root user\n\
                  ExecStart=/usr/bin/gammu-smsd --pid=/run/gammu-smsd.pid --daemon\n\
                  #ExecStart=/usr/bin/gammu-smsd --user= --group= --pid=/run/gammu-smsd.pid --daemon\n";
    assert_eq!(gammu_unit_user(debian), "root");
    let edited =
        format!("{debian}ExecStart=\nExecStart=/usr/bin/gammu-smsd --user=gammu --daemon\n");
    assert_eq!(gammu_unit_user(&edited), "gammu");
    assert_eq!(
        gammu_unit_user("[Service]\nExecStart=/usr/bin/gammu-smsd -U sms -d\n"),
        "sms"
    );
    assert_eq!(
        gammu_unit_user("[Service]\nUser=smsd\nExecStart=/usr/bin/gammu-smsd\n"),
        "smsd"
    );
    assert_eq!(
        unit_values(
            "[Unit]\nUMask=0077\n[Service]\nUMask=0027\n",
            "Service",
            "UMask"
        ),
        vec!["0027"]
    );
}

#[test]
fn drivers_come_from_the_character_devices_of_proc_devices() {
    let text = "Character devices:\n  1 mem\n  4 /dev/vc/0\n  4 tty\n  4 ttyS\n136 pts\n\
                188 ttyUSB\n\nBlock devices:\n  8 sd\n188 notchar\n";
    assert_eq!(drivers_of(text, 188), vec!["ttyUSB"]);
    assert_eq!(drivers_of(text, 4), vec!["/dev/vc/0", "tty", "ttyS"]);
    assert!(drivers_of(text, 8).is_empty());
    // ttyS is allowed already; pts and rfcomm are not.
    assert_eq!(device_allow(&drivers_of(text, 4)), None);
    assert_eq!(device_allow(&drivers_of(text, 136)).as_deref(), Some("pts"));
    assert_eq!(
        device_allow(&["rfcomm".to_owned()]).as_deref(),
        Some("rfcomm")
    );
    assert_eq!(device_allow(&[]), None);
}

#[test]
fn hook_programs_are_told_from_their_command_lines() {
    assert_eq!(
        hook_program("/usr/local/bin/sms-in --q").as_deref(),
        Some("/usr/local/bin/sms-in")
    );
    assert_eq!(hook_program("logger -t sms").as_deref(), Some("logger"));
    assert_eq!(hook_program("cd /srv && ./in"), None);
    assert_eq!(hook_program("LANG=C /x"), None);
    assert_eq!(hook_program(""), None);
}

#[test]
fn access_is_checked_as_the_kernel_does() {
    let spool = dir(102, 105, 0o770);
    assert!(allows(&spool, 102, &[105], 7));
    assert!(allows(&spool, 1000, &[105], 7));
    assert!(!allows(&spool, 1000, &[20], 1));
    // The owner's bits count even when the group's would allow more.
    assert!(!allows(&file(1000, 105, 0o070), 1000, &[105], 4));
    assert!(allows(&file(0, 0, 0o600), 0, &[], 6), "root reads anything");
    assert!(
        !allows(&file(0, 0, 0o644), 0, &[], 1),
        "but runs only what has an x"
    );
}
